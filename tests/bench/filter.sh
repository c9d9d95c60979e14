#!/usr/bin/env bash
# Benchmark: the filter template's ns per packet against a bare XDP_PASS,
# through `cargo xdp bench` (BPF_PROG_TEST_RUN, rounds alternating program
# and baseline, min/median/max): a passing packet at 0, 10 and 1,000 port
# rules, and a packet a port rule drops at 1, 10 and 1,000 rules. As root
# (bpf()); prints cargo xdp bench's table.
#
#   tests/bench/filter.sh [ROUNDS [REPEAT]]     (default 5 rounds of 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
repeat=${2:-1000000}
cargo build --release -q -p cargo-xdp
xdp=$PWD/target/release/cargo-xdp
export CARGO_TARGET_DIR=$PWD/target/bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && "$xdp" xdp new benchfilter -q --vcs none)
tests=$work/benchfilter/benchfilter_kern/tests
rm -f "$tests"/*.toml
python3 - "$tests/bench.toml" <<'PY'
import sys
def ports(n, start=1000):
    return [a for p in range(start, start + n) for a in ("--drop-port", f"tcp/{p}")]
def case(name, args, dst, action):
    quoted = ", ".join(f'"{a}"' for a in args)
    return (f'[[case]]\nname = "{name}"\nargs = [{quoted}]\n'
            f'packet = {{ ipv4 = {{ src = "192.0.2.1", dst = "192.0.2.2" }}, udp = {{ dst = {dst} }} }}\n'
            f'expect = {{ action = "{action}" }}\n')
cases = [case(f"pass_{n}_rules", ports(n), 443, "pass") for n in (0, 10, 1000)]
cases += [case(f"drop_port_{n}_rules", ["--drop-port", "udp/53"] + ports(n - 1), 53, "drop") for n in (1, 10, 1000)]
open(sys.argv[1], "w").write("\n".join(cases))
PY
cd "$work/benchfilter"
"$xdp" xdp test -q >/dev/null   # the cases' expectations hold before timing them
"$xdp" xdp bench -q --rounds "$rounds" --repeat "$repeat"
