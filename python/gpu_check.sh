#!/usr/bin/env bash
# One short GPU check of the torch trainer (python/train_sft.py): weighted SFT of a small random
# Qwen3 (transformers' Qwen3ForCausalLM, ~0.2B weights) on CUDA with bf16 autocast, random token
# rows, about a minute. Prints the trainer's JSON lines and a closing "tokens/s" line.
# Needs: python3 with torch (CUDA) and transformers. Usage: bash python/gpu_check.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VRDATA_PYTHON:-python3}
STEPS=${1:-60}
"$PY" -c "import torch, transformers; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))"
CONFIG='{"model_type":"qwen3","vocab_size":32000,"hidden_size":1024,"intermediate_size":3072,"num_hidden_layers":12,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":64,"rms_norm_eps":1e-6,"rope_theta":1000000.0,"tie_word_embeddings":true,"max_position_embeddings":4096}'
OUT=$(mktemp -d)
timeout 420 "$PY" python/train_sft.py --tiny-config "$CONFIG" --bench --bench-rows $((STEPS * 16)) --bench-seq-len 1024 \
  --batch-tokens 16400 --max-steps "$STEPS" --lr 1e-4 --warmup 5 --device cuda --bf16 | tee "$OUT/log.jsonl"
"$PY" - "$OUT/log.jsonl" <<'PYEOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
steps = [e for e in ev if e["event"] == "step"]
start = next(e for e in ev if e["event"] == "start")
# skip the first 5 steps (CUDA warm-up, allocator growth)
w = steps[5:]
tok = sum(e["tokens"] for e in w[1:])
dt = w[-1]["elapsed_s"] - w[0]["elapsed_s"]
print("gpu_check: model=%s device=%s steps=%d loss %.4f -> %.4f" % (start["model"], start["device"], len(steps), steps[0]["loss"], steps[-1]["loss"]))
print("gpu_check: tokens/s = %.0f (steady state, %d tokens over %.1f s)" % (tok / dt, tok, dt))
PYEOF
