# The classification machinery with another backbone plugin: a small Swin (patch 2, two stages) on
# Fashion-MNIST, trained by the engine, then FeatJND and Gaussian noise on its features.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
cat >"$TMP/swin.json" <<'JSON'
{
  "name": "swin-fashion-mnist",
  "components": {
    "backbone": {"plugin": "swin", "params": {"arch": "custom", "embed_dim": 16, "depths": [2, 2], "num_heads": [1, 2],
                 "patch_size": 2, "window_size": 7, "in_channels": 1, "stochastic_depth": 0.0}},
    "task": {"plugin": "classification", "params": {"train_samples": 4000, "eval_samples": 1000, "epochs": 3, "lr": 0.001, "batch_size": 32}},
    "featjnd": {"plugin": "featjnd", "params": {"lambda": 0.1, "fit_samples": 2000, "lr": 0.001, "width": 16, "blocks": 1}},
    "gaussian": {"plugin": "gaussian"}
  },
  "stages": [
    {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
    {"name": "fit", "type": "fit", "after": "prepare", "distortion": "featjnd"},
    {"name": "eval-featjnd", "type": "evaluate", "after": "fit", "distortion": "featjnd"},
    {"name": "eval-gaussian", "type": "evaluate", "after": "prepare", "distortion": "gaussian"}
  ],
  "sweep": {"featjnd": {"alpha": [0.5, 2]}, "gaussian": {"sigma": [0.5, 2], "seed": [0, 1]}}
}
JSON
"$ENGINE" run "$TMP/swin.json" --db "$TMP/s.db" 2>"$TMP/log" || { cat "$TMP/log"; fail "the Swin sweep failed"; }
[[ $(sql "$TMP/s.db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 8 ]] || fail "expected 8 finished runs"
clean=$(sql "$TMP/s.db" "SELECT MIN(value) FROM metrics WHERE key='clean.top1'")
# A transformer this small learns slowly from 375 steps: torchvision's own SwinTransformer with the
# same configuration and recipe reached 50.9 % (ours 53.1 %); chance is 10 %.
"$PYTHON" -c "assert float('$clean') > 0.45, 'Swin clean top1 $clean'"
"$ENGINE" report "$TMP/s.db" | grep -q "== swin" || fail "the report has no Swin section"
echo "swin classification: ok"
