# Summarise `perf script` output (perf record -g) of a Go process.
# Usage: perf script -i perf.data | awk -f perf-summary.awk
# Prints three views, each as "share of all samples  function":
#   1. self time, with kernel time folded into the innermost user-space frame
#      (so a write(2) shows up as the Go function that made the syscall);
#   2. the innermost gatehouse frame of each sample (what gatehouse code is
#      responsible for the CPU, including the runtime and syscalls it calls);
#      samples with no gatehouse frame go to their goroutine's entry function;
#   3. inclusive time of every function (counted once per sample).
function flush(   i, s, k, user, gh, seen, root) {
	if (n == 0) return
	total++
	k = 0
	for (i = 1; i <= n; i++) if (dso[i] !~ /kernel/) { user = sym[i]; break }
	if (dso[1] ~ /kernel/) kernel++
	if (user == "") user = "[kernel only]"
	self[user]++
	for (i = 1; i <= n; i++) if (sym[i] ~ /gatehouse-dev\/gatehouse\//) { gh = sym[i]; break }
	if (gh == "") {
		root = ""
		for (i = n; i >= 1; i--) if (sym[i] != "runtime.goexit.abi0" && sym[i] != "runtime.goexit" && sym[i] !~ /^\[unknown\]/ && dso[i] !~ /kernel/) { root = sym[i]; break }
		if (root == "") root = sym[n]
		gh = "(no gatehouse frame) " root
	}
	owner[gh]++
	delete seen
	for (i = 1; i <= n; i++) if (!(sym[i] in seen)) { seen[sym[i]] = 1; incl[sym[i]]++ }
	n = 0
}
/^[^\t ]/ { flush(); next }
/^$/ { flush(); next }
{
	line = $0
	sub(/^[ \t]+[0-9a-f]+ /, "", line)
	d = line
	if (match(line, / \([^()]*\)$/)) {
		d = substr(line, RSTART + 2, RLENGTH - 3)
		line = substr(line, 1, RSTART - 1)
	} else d = "?"
	sub(/\+0x[0-9a-f]+$/, "", line)
	n++
	sym[n] = line
	dso[n] = d
}
END {
	flush()
	if (total == 0) { print "no samples"; exit }
	printf "%d samples; %.1f%% of them in the kernel (syscalls, network stack, scheduler)\n\n", total, 100 * kernel / total
	print "== self time, kernel time folded into the calling user-space function (top 30) =="
	dump(self, 30)
	print ""
	print "== innermost gatehouse function on the stack (top 30) =="
	dump(owner, 30)
	print ""
	print "== inclusive time (top 60) =="
	dump(incl, 60)
}
function dump(arr, max,   k, cmd) {
	cmd = "sort -t'\t' -k1,1 -g -r | head -" max
	for (k in arr) printf "%6.2f%%\t%s\n", 100 * arr[k] / total, k | cmd
	close(cmd)
}
