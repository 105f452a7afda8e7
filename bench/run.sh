#!/usr/bin/env bash
# Measures anchorfs against the raw disk and a plain go-fuse loopback (kernel
# passthrough off), in the same run, and prints the ratios. Needs root (FUSE
# mounts without fusermount3, and dropping the page cache for cold reads).
#
#   BENCH_SIZE_MB  size of the sequential file (default 1024)
#   BENCH_FILES    number of small files (default 5000)
#   BENCH_RANDOM   number of random 4 KiB reads (default 20000)
#   BENCH_RUNS     runs per figure, the median is shown (default 3)
#   BENCH_DIR      scratch folder on the disk to measure (default: a new folder under /var/tmp)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${BENCH_SIZE_MB:-1024}
FILES=${BENCH_FILES:-5000}
RANDOM_READS=${BENCH_RANDOM:-20000}
RUNS=${BENCH_RUNS:-3}
WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/anchorfs-bench.XXXXXX)}
BIN=$WORK/bin
mkdir -p "$BIN"
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (FUSE mounts, dropping caches)" >&2; exit 1; }

echo "building into $BIN" >&2
(cd "$ROOT" && go build -o "$BIN/anchorfs" ./cmd/anchorfs && go build -o "$BIN/loopback" ./bench/loopback && go build -o "$BIN/iobench" ./bench/iobench)

LB_PID=""
cleanup() {
  for m in "$WORK"/mnt-*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  [ -n "$LB_PID" ] && kill "$LB_PID" 2>/dev/null || true
  [ -z "${BENCH_DIR:-}" ] && rm -rf "$WORK"
}
trap cleanup EXIT

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Targets: each has a folder to work in, a command that makes data durable,
# and a way to empty its caches before a cold read.
raw_dir=$WORK/raw
lb_orig=$WORK/lb-orig; lb_dir=$WORK/mnt-lb
af_dir=$WORK/mnt-af; af_home=$WORK/af-home
afn_dir=$WORK/mnt-afn; afn_home=$WORK/afn-home
mkdir -p "$raw_dir" "$lb_orig" "$lb_dir" "$af_dir" "$afn_dir"

start_loopback() {
  "$BIN/loopback" "$lb_orig" "$lb_dir" > "$WORK/loopback.log" 2>&1 &
  LB_PID=$!
  for _ in $(seq 100); do mountpoint -q "$lb_dir" && return; sleep 0.05; done
  echo "loopback did not mount" >&2; exit 1
}
stop_loopback() { umount "$lb_dir"; wait "$LB_PID" 2>/dev/null || true; LB_PID=""; }

af() { ANCHORFS_HOME=$1 ANCHORFS_PASSPHRASE= "$BIN/anchorfs" "${@:2}"; }
init_af() { af "$1" init --remote "$WORK/remote-$(basename "$1")" --ledger "$2" > /dev/null; }
mount_af() { af "$1" mount "$2" --background > /dev/null; }
umount_af() { umount "$1"; for _ in $(seq 200); do [ -S "$2/mount.sock" ] || return 0; sleep 0.05; done; }

init_af "$af_home" embedded
init_af "$afn_home" none
start_loopback
mount_af "$af_home" "$af_dir"
mount_af "$afn_home" "$afn_dir"

declare -A R
record() { R["$1|$2"]="${R["$1|$2"]:-} $3"; }

for run in $(seq "$RUNS"); do
  echo "run $run of $RUNS" >&2
  # Sequential write until durable.
  for t in raw lb af; do
    case $t in
      raw) d=$raw_dir; s=(sync) ;;
      lb) d=$lb_dir; s=(sync) ;;
      af) d=$af_dir; s=(env ANCHORFS_HOME="$af_home" "$BIN/anchorfs" sync) ;;
    esac
    rm -f "$d/seq.bin"; sync
    record seqwrite $t "$("$BIN/iobench" seqwrite "$d" "$SIZE" "${s[@]}" | json 'd["MBps"]')"
  done
  # Cold sequential read and random 4 KiB reads.
  stop_loopback; umount_af "$af_dir" "$af_home"; drop_caches
  start_loopback; mount_af "$af_home" "$af_dir"
  for t in raw lb af; do
    d=$raw_dir; [ $t = lb ] && d=$lb_dir; [ $t = af ] && d=$af_dir
    record seqread $t "$("$BIN/iobench" seqread "$d/seq.bin" | json 'd["MBps"]')"
  done
  stop_loopback; umount_af "$af_dir" "$af_home"; drop_caches
  start_loopback; mount_af "$af_home" "$af_dir"
  for t in raw lb af; do
    d=$raw_dir; [ $t = lb ] && d=$lb_dir; [ $t = af ] && d=$af_dir
    record randread $t "$("$BIN/iobench" randread "$d/seq.bin" "$RANDOM_READS" | json 'd["IOPS"]')"
    rm -f "$d/seq.bin"
  done
  # Small files: create, stat, read, delete.
  for t in raw lb af; do
    d=$raw_dir; [ $t = lb ] && d=$lb_dir; [ $t = af ] && d=$af_dir
    record smallfiles $t "$("$BIN/iobench" smallfiles "$d" "$FILES" | json 'd["seconds"]')"
  done
  # Untar of GOROOT/src until durable, with anchoring on and off.
  src=$(go env GOROOT)/src
  for t in raw lb af afn; do
    case $t in
      raw) d=$raw_dir; s=(sync) ;;
      lb) d=$lb_dir; s=(sync) ;;
      af) d=$af_dir; s=(env ANCHORFS_HOME="$af_home" "$BIN/anchorfs" sync) ;;
      afn) d=$afn_dir; s=(env ANCHORFS_HOME="$afn_home" "$BIN/anchorfs" sync) ;;
    esac
    mkdir -p "$d/src"; t0=$(now)
    tar -C "$src" -cf - . | tar -C "$d/src" -xf -
    "${s[@]}"
    record untar $t "$(echo "$(now) - $t0" | bc -l)"
    rm -rf "$d/src"
  done
done

m() { echo "${R["$1|$2"]}" | tr ' ' '\n' | grep -v '^$' | median; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo PASS; else echo MISS; fi; }

out=$(mktemp)
{
echo "| workload | raw disk | loopback | anchorfs | anchorfs/raw | anchorfs/loopback | bar |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
w=seqwrite; a=$(m $w af); l=$(m $w lb); r=$(m $w raw)
echo "| write ${SIZE} MiB until on the remote (MB/s) | $r | $l | $a | $(ratio $a $r) | $(ratio $a $l) | >= 0.40 of loopback: $(verdict "$(ratio $a $l) >= 0.40") |"
w=seqread; a=$(m $w af); l=$(m $w lb); r=$(m $w raw)
echo "| cold sequential read (MB/s) | $r | $l | $a | $(ratio $a $r) | $(ratio $a $l) | >= 0.60 of loopback: $(verdict "$(ratio $a $l) >= 0.60") |"
w=randread; a=$(m $w af); l=$(m $w lb); r=$(m $w raw)
echo "| random 4 KiB reads, cold (IOPS) | $r | $l | $a | $(ratio $a $r) | $(ratio $a $l) | - |"
w=smallfiles; a=$(m $w af); l=$(m $w lb); r=$(m $w raw)
echo "| ${FILES} small files: create, stat, read, delete (s) | $r | $l | $a | $(ratio $a $r) | $(ratio $a $l) | within 3x of loopback: $(verdict "$(ratio $a $l) <= 3") |"
w=untar; a=$(m $w af); l=$(m $w lb); r=$(m $w raw); n=$(m $w afn)
echo "| untar GOROOT/src until durable (s) | $r | $l | $a | $(ratio $a $r) | $(ratio $a $l) | within 3x of loopback: $(verdict "$(ratio $a $l) <= 3") |"
echo "| untar with anchoring on / off (s) | | | $a / $n | | | within 1.2x: $(ratio $a $n) $(verdict "$(ratio $a $n) <= 1.2") |"
} > "$out"
(cd "$ROOT" && go test -run '^$' -bench BenchmarkAnchorBatch -benchtime 5x ./network/embedded/ 2>/dev/null | awk '/versions\/s/ {for (i=1;i<=NF;i++) if ($(i+1)=="versions/s") printf "| anchored versions per second, embedded ledger, batches of 2000 | | | %s | | | >= 5000: %s |\n", $i, ($i >= 5000 ? "PASS" : "MISS")}') >> "$out"
cat "$out"
mkdir -p "$ROOT/bench/results" && cp "$out" "$ROOT/bench/results/latest.md"
