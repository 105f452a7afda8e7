#!/usr/bin/env bash
# Measures anchorfs beside the raw disk, a plain go-fuse loopback (kernel
# passthrough off), gocryptfs v2.4.0 (defaults) and an rclone crypt mount
# (--vfs-cache-mode writes, on a local remote), in the same run and the same
# harness, and prints anchorfs's ratio to gocryptfs and to rclone crypt for
# each workload, with the bars docs/ and the README name; then anchorfs with
# 2+1 shards on three local remotes beside anchorfs on one (write, cold
# read, cold read with one remote emptied). Needs root (FUSE
# mounts without fusermount3, dropping the page cache for cold reads) and fio.
#
#   BENCH_SIZE_MB  size of the sequential file (default 1024)
#   BENCH_FILES    number of small files (default 5000)
#   BENCH_SECONDS  seconds of each fio random-read run (default 10)
#   BENCH_RUNS     runs per figure; the median is shown, and the range of
#                  anchorfs's ratio to gocryptfs (default 3)
#   BENCH_DIR      scratch folder on the disk to measure (default: a new folder under /var/tmp)
#   BENCH_ONLY     targets to run, of raw lb gc rc af nodes (default: all;
#                  nodes is the storage-nodes part, which af brings too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${BENCH_SIZE_MB:-1024}
FILES=${BENCH_FILES:-5000}
SECONDS_FIO=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/anchorfs-bench.XXXXXX)}
ONLY=${BENCH_ONLY:-raw lb gc rc af}
NODES=0; [[ " $ONLY " == *" af "* || " $ONLY " == *" nodes "* ]] && NODES=1
ONLY=$(echo " $ONLY " | sed 's/ nodes / /g'); ONLY=$(echo $ONLY)
BIN=$WORK/bin
mkdir -p "$BIN"
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (FUSE mounts, dropping caches)" >&2; exit 1; }
command -v fio > /dev/null || { echo "bench/run.sh needs fio (apt-get install -y fio)" >&2; exit 1; }

echo "building into $BIN" >&2
(cd "$ROOT" && go build -o "$BIN/anchorfs" ./cmd/anchorfs && go build -o "$BIN/loopback" ./bench/loopback && go build -o "$BIN/iobench" ./bench/iobench)
eval "$(bash "$ROOT/bench/tools.sh")" # GOCRYPTFS=... RCLONE=...

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_mounted() { for _ in $(seq 200); do mountpoint -q "$1" && return; sleep 0.05; done; echo "$1 did not mount" >&2; exit 1; }

# Each target has a folder to work in, a command that makes what was
# written durable (on its remote or disk), a mount and an unmount, and the
# process whose CPU time and peak memory are measured.
raw_dir=$WORK/raw
lb_orig=$WORK/lb-orig; lb_dir=$WORK/mnt-lb
gc_cipher=$WORK/gc-cipher; gc_dir=$WORK/mnt-gc; gc_pass=$WORK/gc-pass
rc_remote=$WORK/rc-remote; rc_dir=$WORK/mnt-rc; rc_conf=$WORK/rclone.conf; rc_cache=$WORK/rc-cache; RC_ADDR=127.0.0.1:5573
af_dir=$WORK/mnt-af; af_home=$WORK/af-home
afn_dir=$WORK/mnt-afn; afn_home=$WORK/afn-home
mkdir -p "$raw_dir" "$lb_orig" "$lb_dir" "$gc_cipher" "$gc_dir" "$rc_remote" "$rc_dir" "$rc_cache" "$af_dir" "$afn_dir"
declare -A PID

af() { ANCHORFS_HOME=$1 ANCHORFS_PASSPHRASE= "$BIN/anchorfs" "${@:2}"; }
af_pid() { pgrep -n -f "$BIN/anchorfs mount $1" || true; }

echo pass > "$gc_pass"
"$GOCRYPTFS" -q -init -passfile "$gc_pass" "$gc_cipher" > /dev/null
printf '[rc]\ntype = crypt\nremote = %s\npassword = %s\n' "$rc_remote" "$("$RCLONE" obscure pass)" > "$rc_conf"
af "$af_home" init --remote "$WORK/remote-af" --ledger embedded > /dev/null
af "$afn_home" init --remote "$WORK/remote-afn" --ledger none > /dev/null

mount_t() {
  case $1 in
    lb) "$BIN/loopback" "$lb_orig" "$lb_dir" > "$WORK/loopback.log" 2>&1 & PID[lb]=$!; wait_mounted "$lb_dir" ;;
    gc) "$GOCRYPTFS" -fg -q -passfile "$gc_pass" "$gc_cipher" "$gc_dir" > "$WORK/gocryptfs.log" 2>&1 & PID[gc]=$!
        wait_mounted "$gc_dir" ;;
    rc) "$RCLONE" mount rc: "$rc_dir" --config "$rc_conf" --cache-dir "$rc_cache" --vfs-cache-mode writes \
          --vfs-write-back 0s --rc --rc-addr "$RC_ADDR" --rc-no-auth > "$WORK/rclone.log" 2>&1 & PID[rc]=$!
        wait_mounted "$rc_dir" ;;
    af) af "$af_home" mount "$af_dir" --background > /dev/null; PID[af]=$(af_pid "$af_dir") ;;
    afn) af "$afn_home" mount "$afn_dir" --background > /dev/null; PID[afn]=$(af_pid "$afn_dir") ;;
  esac
}
umount_t() {
  case $1 in
    lb) umount "$lb_dir"; wait "${PID[lb]}" 2>/dev/null || true ;;
    gc) umount "$gc_dir"; wait "${PID[gc]}" 2>/dev/null || true ;;
    rc) rc_durable; umount "$rc_dir"; wait "${PID[rc]}" 2>/dev/null || true; rm -rf "$rc_cache"/* ;;
    af) umount "$af_dir"; while [ -S "$af_home/mount.sock" ]; do sleep 0.05; done ;;
    afn) umount "$afn_dir"; while [ -S "$afn_home/mount.sock" ]; do sleep 0.05; done ;;
  esac
}
# rc_durable waits until the rclone mount has uploaded everything written.
rc_durable() {
  while :; do
    s=$("$RCLONE" rc vfs/stats --rc-addr "$RC_ADDR" 2>/dev/null | json 'd["diskCache"]["uploadsInProgress"] + d["diskCache"]["uploadsQueued"]' || echo 1)
    [ "$s" = 0 ] && return; sleep 0.1
  done
}
# rc-durable is rc_durable as a program, for iobench to run.
printf '#!/usr/bin/env bash\nset -e\n%s\n%s\nRCLONE=%q RC_ADDR=%q rc_durable\n' "$(declare -f json)" "$(declare -f rc_durable)" "$RCLONE" "$RC_ADDR" > "$BIN/rc-durable"
chmod +x "$BIN/rc-durable"
dir_of() { case $1 in raw) echo "$raw_dir";; lb) echo "$lb_dir";; gc) echo "$gc_dir";; rc) echo "$rc_dir";; af) echo "$af_dir";; afn) echo "$afn_dir";; esac; }
durable() {
  case $1 in
    raw|lb|gc) echo sync ;;
    rc) echo "$BIN/rc-durable" ;;
    af) echo "env ANCHORFS_HOME=$af_home $BIN/anchorfs sync" ;;
    afn) echo "env ANCHORFS_HOME=$afn_home $BIN/anchorfs sync" ;;
  esac
}
cpu_ticks() { [ -n "${PID[$1]:-}" ] && awk '{print $14 + $15}' "/proc/${PID[$1]}/stat" || echo 0; }
hwm_mib() { [ -n "${PID[$1]:-}" ] && awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/${PID[$1]}/status" || echo 0; }
remount_cold() { for t in $ONLY; do [ "$t" = raw ] || umount_t "$t"; done; drop_caches; for t in $ONLY; do [ "$t" = raw ] || mount_t "$t"; done; }
cleanup() {
  for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

declare -A R
record() { R["$1|$2"]="${R["$1|$2"]:-} $3"; }
fio_iops() {
  fio --name=r --filename="$1" --rw=randread --bs=4k --ioengine=psync --iodepth=1 --runtime="$SECONDS_FIO" \
      --time_based --direct="$2" --output-format=json 2>/dev/null | json 'd["jobs"][0]["read"]["iops"]'
}
TICK=$(getconf CLK_TCK)

ALL=$ONLY
for run in $(seq "$RUNS"); do
  [ -n "$ALL" ] || break
  echo "run $run of $RUNS" >&2
  # Each run starts with another target: a disk that slows down after a
  # burst of writes (as cloud disks do) does not always fall on the last.
  # gocryptfs and anchorfs, whose ratio the bars are, go one right after
  # the other, which first alternating: neither always follows the same
  # target (rclone's writes, to its cache and its remote, slow the disk
  # for whatever comes next).
  read -ra all <<< "$(echo " $ALL " | sed 's/ af / /')"; k=$(( ${#all[@]} ? (run - 1) % ${#all[@]} : 0 ))
  ONLY=" ${all[*]:k} ${all[*]:0:k} "
  pair="gc af"; (( run % 2 )) || pair="af gc"
  if [[ " $ALL " != *" af "* ]]; then :
  elif [[ "$ONLY" == *" gc "* ]]; then ONLY=${ONLY/ gc / $pair }
  else ONLY="$ONLY af"; fi
  ONLY=$(echo $ONLY)
  for t in $ONLY; do [ "$t" = raw ] || mount_t "$t"; done
  # Sequential write until durable, with the mount's CPU time and peak memory.
  for t in $ONLY; do
    d=$(dir_of "$t"); rm -f "$d/seq.bin"; sync
    c0=$(cpu_ticks "$t")
    # shellcheck disable=SC2046
    record seqwrite "$t" "$("$BIN/iobench" seqwrite "$d" "$SIZE" $(durable "$t") | json 'd["MBps"]')"
    record cpuwrite "$t" "$(echo "($(cpu_ticks "$t") - $c0) / $TICK / ($SIZE / 1024)" | bc -l)"
    record rss "$t" "$(hwm_mib "$t")"
  done
  remount_cold
  for t in $ONLY; do
    c0=$(cpu_ticks "$t")
    record seqread "$t" "$("$BIN/iobench" seqread "$(dir_of "$t")/seq.bin" | json 'd["MBps"]')"
    record cpuread "$t" "$(echo "($(cpu_ticks "$t") - $c0) / $TICK / ($SIZE / 1024)" | bc -l)"
  done
  for direct in 0 1; do
    remount_cold
    for t in $ONLY; do
      record "randread$direct" "$t" "$(fio_iops "$(dir_of "$t")/seq.bin" "$direct")"
    done
  done
  for t in $ONLY; do rm -f "$(dir_of "$t")/seq.bin"; done
  # Small files: created until durable, then cold: ls -lR, cat all, rm -rf.
  for t in $ONLY; do
    # shellcheck disable=SC2046
    record mkfiles "$t" "$("$BIN/iobench" mkfiles "$(dir_of "$t")" "$FILES" $(durable "$t") | json 'd["seconds"]')"
  done
  remount_cold
  for t in $ONLY; do record lsr "$t" "$("$BIN/iobench" lsr "$(dir_of "$t")" | json 'd["seconds"]')"; done
  remount_cold
  for t in $ONLY; do record catall "$t" "$("$BIN/iobench" catall "$(dir_of "$t")" | json 'd["seconds"]')"; done
  for t in $ONLY; do
    # shellcheck disable=SC2046
    record rmall "$t" "$("$BIN/iobench" rmall "$(dir_of "$t")" $(durable "$t") | json 'd["seconds"]')"
  done
  # Untar of GOROOT/src until durable; anchorfs also without a ledger.
  src=$(go env GOROOT)/src
  [[ " $ONLY " == *" af "* ]] && mount_t afn
  for t in $ONLY $([[ " $ONLY " == *" af "* ]] && echo afn); do
    d=$(dir_of "$t"); mkdir -p "$d/src"; t0=$(now)
    tar -C "$src" -cf - . | tar -C "$d/src" -xf -
    $(durable "$t") > /dev/null
    record untar "$t" "$(echo "$(now) - $t0" | bc -l)"
    rm -rf "$d/src"; $(durable "$t") > /dev/null
  done
  [[ " $ONLY " == *" af "* ]] && umount_t afn
  for t in $ONLY; do [ "$t" = raw ] || umount_t "$t"; done
done

# Storage nodes: 2+1 on three local remotes beside one remote, and reading
# with one of the three gone (its folder emptied while unmounted); once with
# the remotes on the disk measured (where they share its bandwidth, and 2+1
# writes 1.5 times the bytes), once on tmpfs (what the coding itself costs).
# nodes_run TAG BASE: one run, remotes under BASE; targets one-TAG, three-TAG.
nodes_run() {
  local tag=$1 base=$2 order=$3 t d h
  for t in one three; do
    h=$WORK/nodes-$t-$tag-home; d=$WORK/mnt-nodes-$t-$tag
    if [ ! -d "$h" ]; then
      mkdir -p "$d" "$base/nodes-$tag"
      if [ $t = one ]; then af "$h" init --remote "$base/nodes-$tag/single" > /dev/null
      else af "$h" init --remote "$base/nodes-$tag/n1" --remote "$base/nodes-$tag/n2" --remote "$base/nodes-$tag/n3" --shards 2+1 > /dev/null; fi
    fi
  done
  nmount() { af "$WORK/nodes-$1-$tag-home" mount "$WORK/mnt-nodes-$1-$tag" --background > /dev/null; PID[n]=$(af_pid "$WORK/mnt-nodes-$1-$tag"); }
  numount() { umount "$WORK/mnt-nodes-$1-$tag"; while [ -S "$WORK/nodes-$1-$tag-home/mount.sock" ]; do sleep 0.05; done; }
  nsync() { af "$WORK/nodes-$1-$tag-home" sync > /dev/null; }
  # $order alternates from run to run: neither layout always writes while
  # the disk still flushes what the other wrote.
  for t in $order; do
    nmount $t; d=$WORK/mnt-nodes-$t-$tag; rm -f "$d/seq.bin"; nsync $t; sync; sleep 2
    local c0; c0=$(cpu_ticks n)
    local got
    if ! got=$("$BIN/iobench" seqwrite "$d" "$SIZE" env ANCHORFS_HOME="$WORK/nodes-$t-$tag-home" "$BIN/anchorfs" sync); then
      echo "the write failed; the end of the mount's log:" >&2; tail -20 "$WORK/nodes-$t-$tag-home/mount.log" >&2
    fi
    record "nwrite-$tag" $t "$(echo "$got" | json 'd["MBps"]' 2>/dev/null || echo 0)"
    record "ncpu-$tag" $t "$(echo "($(cpu_ticks n) - $c0) / $TICK / ($SIZE / 1024)" | bc -l)"
    numount $t
  done
  drop_caches
  for t in one three; do
    nmount $t; record "nread-$tag" $t "$("$BIN/iobench" seqread "$WORK/mnt-nodes-$t-$tag/seq.bin" | json 'd["MBps"]')"; numount $t
  done
  mv "$base/nodes-$tag/n3" "$base/nodes-$tag/n3.away"; drop_caches
  nmount three; record "ndegraded-$tag" three "$("$BIN/iobench" seqread "$WORK/mnt-nodes-three-$tag/seq.bin" | json 'd["MBps"]')"; numount three
  rm -rf "$base/nodes-$tag/n3"; mv "$base/nodes-$tag/n3.away" "$base/nodes-$tag/n3"
  for t in one three; do nmount $t; rm -f "$WORK/mnt-nodes-$t-$tag/seq.bin"; nsync $t; numount $t; done
}
if [ "$NODES" = 1 ]; then
  SHM=$(mktemp -d /dev/shm/anchorfs-bench.XXXXXX)
  trap 'cleanup; rm -rf "$SHM"' EXIT
  for run in $(seq "$RUNS"); do
    echo "storage nodes, run $run of $RUNS" >&2
    order="one three"; [ $((run % 2)) = 0 ] && order="three one"
    nodes_run disk "$WORK" "$order"
    nodes_run tmpfs "$SHM" "$order"
  done
  rm -rf "$SHM"
fi

vals() { echo "${R["$1|$2"]:-}" | tr ' ' '\n' | grep -v '^$' || true; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) printf "%.4g", a[int((NR+1)/2)]; else print "-"}'; }
m() { vals "$1" "$2" | median; }
# ratios prints anchorfs's per-run ratio to target $2 for workload $1: median and range.
ratios() {
  paste <(vals "$1" af) <(vals "$1" "$2") | awk -v inv="$3" '$1 > 0 && $2 > 0 {print (inv ? $2 / $1 : $1 / $2)}' | sort -g |
    awk '{a[NR]=$1} END {if (NR) printf "%.2f (%.2f-%.2f)", a[int((NR+1)/2)], a[1], a[NR]; else print "-"}'
}
# bar checks a median ratio (or figure) against a bar: "PASS" or "MISS".
bar() { awk -v v="$1" -v b="$3" -v op="$2" 'BEGIN {ok = (op == ">=") ? (v + 0 >= b) : (v + 0 <= b); print (v == "-" ? "-" : (ok ? "PASS" : "MISS"))}'; }
row() { # workload label inverse(1: lower is better) bar-op bar-value
  local w=$1 label=$2 inv=$3 op=$4 b=$5 rg rr
  rg=$(ratios "$w" gc "$inv"); rr=$(ratios "$w" rc "$inv")
  echo "| $label | $(m "$w" raw) | $(m "$w" lb) | $(m "$w" gc) | $(m "$w" rc) | $(m "$w" af) | $rg | $rr | $op $b x: $(bar "${rg%% *}" "$op" "$b") |"
}

out=$(mktemp)
{
if [ -n "$ALL" ]; then
echo "Ratios are anchorfs's speed as a multiple of the other's (above 1: anchorfs is faster), medians of"
echo "$RUNS runs with the range in brackets; figures are medians. $(nproc) cores, $(uname -r)."
echo
echo "| workload | raw disk | loopback | gocryptfs | rclone crypt | anchorfs | vs gocryptfs | vs rclone crypt | bar (vs gocryptfs) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
row seqwrite "write $SIZE MiB until durable (MB/s)" 0 ">=" 0.8
row seqread "cold sequential read (MB/s)" 0 ">=" 1.0
row randread0 "random 4 KiB reads, QD1, buffered (IOPS)" 0 ">=" 1.0
row randread1 "random 4 KiB reads, QD1, O_DIRECT (IOPS)" 0 ">=" 1.0
row mkfiles "$FILES x 4 KiB files created until durable (s)" 1 ">=" 0.83
row lsr "cold ls -lR of them (s)" 1 ">=" 0.83
row catall "cold cat of them all (s)" 1 ">=" 0.83
row rmall "rm -rf of them until durable (s)" 1 ">=" 0.83
row untar "untar GOROOT/src until durable (s)" 1 ">=" 0.83
echo "| untar without a ledger (s) | | | | | $(m untar afn) | | | |"
cw=$(m cpuwrite af); cr=$(m cpuread af); rs=$(m rss af)
echo "| mount CPU-seconds per GiB written | | $(m cpuwrite lb) | $(m cpuwrite gc) | $(m cpuwrite rc) | $cw | | | <= 2.0: $(bar "$cw" "<=" 2.0) |"
echo "| mount CPU-seconds per GiB read | | $(m cpuread lb) | $(m cpuread gc) | $(m cpuread rc) | $cr | | | <= 1.5: $(bar "$cr" "<=" 1.5) |"
echo "| mount peak RSS during the write (MiB) | | $(m rss lb) | $(m rss gc) | $(m rss rc) | $rs | | | <= 256: $(bar "$rs" "<=" 256) |"
echo
echo "Times (s) are compared as speeds: a ratio of 0.83 is 1.2x the time."
fi
if [ -n "${R["nwrite-disk|three"]:-}" ]; then
  nr() { paste <(vals "$1" "$2") <(vals "$3" "$4") | awk '$1 > 0 && $2 > 0 {print $1 / $2}' | sort -g |
    awk '{a[NR]=$1} END {if (NR) printf "%.2f (%.2f-%.2f)", a[int((NR+1)/2)], a[1], a[NR]; else print "-"}'; }
  echo
  echo "Storage nodes: anchorfs with 2+1 shards on three local remotes beside anchorfs on one, the"
  echo "remotes on the disk (sharing its bandwidth: 2+1 writes 1.5 times the bytes) and on tmpfs."
  echo
  echo "| workload | one remote | 2+1 on three | ratio | bar |"
  echo "| --- | --- | --- | --- | --- |"
  for tag in disk tmpfs; do
    w=$(nr "nwrite-$tag" three "nwrite-$tag" one); dg=$(nr "ndegraded-$tag" three "nread-$tag" three)
    echo "| $tag: write $SIZE MiB until stored (MB/s) | $(m "nwrite-$tag" one) | $(m "nwrite-$tag" three) | $w | >= 0.7: $(bar "${w%% *}" ">=" 0.7) |"
    echo "| $tag: mount CPU-seconds per GiB written | $(m "ncpu-$tag" one) | $(m "ncpu-$tag" three) | | |"
    echo "| $tag: cold sequential read (MB/s) | $(m "nread-$tag" one) | $(m "nread-$tag" three) | $(nr "nread-$tag" three "nread-$tag" one) | |"
    echo "| $tag: cold read, one of the three remotes emptied (MB/s) | | $(m "ndegraded-$tag" three) | $dg (of healthy) | >= 0.5: $(bar "${dg%% *}" ">=" 0.5) |"
  done
fi
} > "$out"
(cd "$ROOT" && go test -run '^$' -bench BenchmarkAnchorBatch -benchtime 5x ./network/embedded/ 2>/dev/null | awk '/versions\/s/ {for (i=1;i<=NF;i++) if ($(i+1)=="versions/s") printf "\nAnchored versions per second, embedded ledger, batches of 2000: %s (bar >= 5000: %s)\n", $i, ($i >= 5000 ? "PASS" : "MISS")}') >> "$out"
cat "$out"
mkdir -p "$ROOT/bench/results" && cp "$out" "$ROOT/bench/results/latest.md"
