#!/bin/sh
# Stage two of a bulkhead test VM, PID 1 on the host's root (see init). Runs
# job.sh from the output folder in the repository, writes its output and exit
# code there, and powers off. The host reads exit-code only after this file
# wrote it, so a VM that dies earlier counts as an infrastructure failure.
REPO=$1
OUT=/run/bulkhead-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 BULKHEAD_VM=1 BULKHEAD_VM_OUT=$OUT

echo "bulkhead-vm: stage2 started at uptime $(cut -d' ' -f1 /proc/uptime)"
hostname bulkhead-vm
cd "$REPO" || echo "bulkhead-vm: infrastructure failure: cd $REPO failed"

# dash has no pipefail, so the job's status goes through a file past tee.
{
	sh "$OUT/job.sh"
	echo $? >"$OUT/exit-code.partial"
} 2>&1 | tee "$OUT/output.log"

if [ -f "$OUT/exit-code.partial" ]; then
	mv "$OUT/exit-code.partial" "$OUT/exit-code"
fi
echo "bulkhead-vm: job finished with exit code $(cat "$OUT/exit-code" 2>/dev/null) at uptime $(cut -d' ' -f1 /proc/uptime)"
sync
umount "$OUT" "$REPO" 2>/dev/null
/bin/busybox poweroff -f
# Reached only when busybox is missing on the host root: power off through sysrq instead.
echo o >/proc/sysrq-trigger
