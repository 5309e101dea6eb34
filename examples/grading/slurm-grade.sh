#!/usr/bin/env bash
# Grades a class on a Slurm cluster: a job array grades one shard per task
# (`workbook grade --shard I/N`), then a job that starts only when every task succeeded merges the
# partial gradebooks (`workbook gradebook merge`). Slurm does the scheduling; this script only
# submits the two jobs. See docs/grading-cluster.md.
#
#   COURSE=/shared/course SHARDS=8 bash examples/grading/slurm-grade.sh
#
# COURSE is the course's checkout on a filesystem every node mounts, with the engine built once
# (`swift build -c release`: the engine library and the workbook command), `submissions/` and `exercises/` inside.
#SBATCH --job-name=workbook-grade
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
set -euo pipefail

COURSE=${COURSE:?set COURSE to the course checkout every node can read}
SHARDS=${SHARDS:-8}
WORKBOOK=${WORKBOOK:-$COURSE/.build/release/workbook}
PARTS=$COURSE/gradebooks/shards

case "${1:-submit}" in
submit)
  mkdir -p "$COURSE/gradebooks/logs"
  # One array task per shard, numbered 1..N like the shards.
  array=$(sbatch --parsable --array="1-$SHARDS" --output="$COURSE/gradebooks/logs/grade-%A_%a.out" \
                 --export=ALL,COURSE="$COURSE",SHARDS="$SHARDS" "$0" shard)
  # afterok: the merge runs only if every shard finished without error.
  sbatch --parsable --dependency="afterok:$array" --cpus-per-task=1 --time=00:20:00 \
         --output="$COURSE/gradebooks/logs/merge-%j.out" --export=ALL,COURSE="$COURSE",SHARDS="$SHARDS" "$0" merge
  ;;
shard)
  i=$SLURM_ARRAY_TASK_ID
  cd "$COURSE"
  # Each shard writes its own partial gradebook, and builds in the node's own scratch folder.
  "$WORKBOOK" grade submissions/ --exercises exercises --out "$PARTS/$i" --shard "$i/$SHARDS" \
      --jobs "${SLURM_CPUS_PER_TASK:-2}" --work "${TMPDIR:-/tmp}/workbook-grade-$SLURM_JOB_ID"
  ;;
merge)
  cd "$COURSE"
  parts=()
  for i in $(seq 1 "$SHARDS"); do parts+=("$PARTS/$i"); done
  # Into the course's gradebook, beside earlier runs: `workbook gradebook diff` compares them.
  "$WORKBOOK" gradebook merge gradebooks/ "${parts[@]}"
  ;;
*)
  echo "usage: $0 [submit|shard|merge]" >&2
  exit 2
  ;;
esac
