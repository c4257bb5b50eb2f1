#!/usr/bin/env bash
# Runs every fuzz target (or the ones named as arguments) for a bounded time;
# exits non-zero if any of them finds a crash. `make fuzz` calls this.
#
#   FUZZ_SECONDS=30       seconds per target (libFuzzer -max_total_time)
#   FUZZ_SANITIZER=address  or none (faster, but catches only panics/aborts)
#   FUZZ_ARGS="..."       extra libFuzzer flags, e.g. "-jobs=2 -workers=2"
#
# Works on the stable toolchain: cargo-fuzz's nightly flags (-Zsanitizer,
# sancov) are allowed by RUSTC_BOOTSTRAP=1, set here for cargo-fuzz only.
# New corpus entries go to fuzz/corpus/<target> (not committed); the seeds
# in fuzz/seeds/<target> and every past crash in fuzz/regressions/<target>
# are replayed first, so a regression fails the run at once.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

export RUSTC_BOOTSTRAP=1
failed=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    mkdir -p "$corpus"
    dirs=("$corpus")
    for extra_dir in "fuzz/seeds/$target" "fuzz/regressions/$target"; do
        if [ -d "$extra_dir" ] && [ -n "$(ls -A "$extra_dir")" ]; then
            dirs+=("$extra_dir")
        fi
    done
    flags=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    if [ -f "fuzz/dicts/$target.dict" ]; then
        flags+=(-dict="fuzz/dicts/$target.dict")
    fi
    echo "fuzz: $target for ${seconds}s (sanitizer: $sanitizer)" >&2
    if ! cargo fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" \
        "${dirs[@]}" -- "${flags[@]}" ${extra[@]+"${extra[@]}"}; then
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    echo "fuzz: the input is in fuzz/artifacts/<target>/; shrink it with" >&2
    echo "  RUSTC_BOOTSTRAP=1 cargo fuzz tmin -s $sanitizer -a <target> fuzz/artifacts/<target>/crash-..." >&2
    echo "and keep it in fuzz/regressions/<target>/ once fixed." >&2
    exit 1
fi
echo "fuzz: no crashes in ${targets[*]}" >&2
