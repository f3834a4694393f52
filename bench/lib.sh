# shellcheck shell=bash
# What the benchmark scripts share, sourced after tests/net/lib.sh:
# medians of repeated runs, ratios against the reference and verdicts.

# median < "V V V...": the middle value (the mean of the two middle ones).
median() {
	tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "nan"; exit }
		print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# ratio A B: A / B to two decimals ("nan" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
# verdict RATIO TARGET: "ok" when RATIO >= TARGET, else "MISSED".
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }'; }
