#!/usr/bin/env python3
"""Weighted SFT for causal LMs: vrdata's `--trainer torch` (and usable on its own).

Loss (DESIGN.md): -(1/C) * sum over rows of w_row * sum over response tokens of log p(token | prefix),
prompt tokens masked, C a constant normaliser fixed per run (not the batch's token count). By
default C = mean response tokens per optimiser step over the planned run; --normaliser fixes it.
The data order and micro-batch packing are the same as the embedded trainer's (src/train/data.ts:
mulberry32 shuffles keyed by (seed, epoch), windows of 64 sorted by length, greedy fill to
--batch-tokens), so both trainers see the same steps.

Needs: torch. For Hugging Face models also transformers. Data: --tokens <file.jsonl> (rows
{"input_ids": [...], "prompt_len": n, "weight": w}, what vrdata's launcher writes), or --data
<file.parquet> with columns prompt, response, weight (needs pyarrow and the model's tokenizer via
transformers).

Models: a Hugging Face model folder or hub id (transformers' AutoModelForCausalLM), or, when
transformers is not importable, a folder with config.json (model_type qwen3) + model.safetensors
that the MINIMAL QWEN3 MODULE below loads (a small self-contained Qwen3 forward for tests and CPU
benchmarks; it is not a replacement for transformers on real models).

Several GPUs: `torchrun --nproc_per_node N train_sft.py ...` shards the model with FSDP; each rank
takes every N-th micro-batch and the gradient sums over ranks, so the loss is the same.

Checkpoints: --checkpoint-dir DIR --checkpoint-every N writes DIR/step-XXXXXXXX/ every N optimiser
steps (not after the last; the newest two kept), and a rerun with the same DIR resumes from the
newest complete one with the weights an uninterrupted run would reach (see CHECKPOINTS below).

Progress: one JSON object per line on stdout ({"event": "start" | "resume" | "step" | "checkpoint" |
"done" | "error", ...}); logs go to stderr. Exit code 3 = a needed package is missing (the "error"
line names it); 2 = DIR holds checkpoints of another run ("error" with reason "foreign-checkpoint").
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import struct
import sys
import time


def emit(event, **fields):
    if int(os.environ.get("RANK", "0")) != 0:
        return
    fields["event"] = event
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def missing(packages, why):
    emit("error", missing=packages, message=why)
    sys.stderr.write("train_sft: %s\n" % why)
    sys.exit(3)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    missing(["torch"], "torch is not importable by %s; install PyTorch (pip install torch, or on Debian apt-get install python3-torch) and rerun" % sys.executable)

try:
    import transformers  # noqa: F401
    HAVE_TRANSFORMERS = True
except ImportError:
    HAVE_TRANSFORMERS = False


# ---------------------------------------------------------------- data order (mirrors src/train/rng.ts, data.ts)

M32 = 0xFFFFFFFF


def imul(a, b):
    return (a * b) & M32


class Rng:
    """mulberry32, bit-for-bit the same stream as src/train/rng.ts."""

    def __init__(self, seed):
        self.s = seed & M32

    def next(self):
        self.s = (self.s + 0x6D2B79F5) & M32
        t = self.s
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M32
        return ((t ^ (t >> 14)) & M32) / 4294967296.0

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = int(self.next() * (i + 1))
            a[i], a[j] = a[j], a[i]
        return a


def mix_seed(a, b):
    h = (imul(a & M32, 0x9E3779B1) ^ imul((b + 0x7F4A7C15) & M32, 0x85EBCA6B)) & M32
    h = imul(h ^ (h >> 16), 0x21F0AAAD)
    return (h ^ (h >> 15)) & M32


def pack_epoch(examples, seed, epoch, batch_tokens):
    rng = Rng(mix_seed(seed, epoch))
    order = rng.shuffle(list(range(len(examples))))
    batches = []
    for w in range(0, len(order), 64):
        chunk = sorted(order[w:w + 64], key=lambda i: (-len(examples[i]["ids"]), i))
        cur, cur_len = [], 0
        for i in chunk:
            n = len(examples[i]["ids"]) - 1
            new_len = max(cur_len, n)
            if cur and (len(cur) + 1) * new_len > batch_tokens:
                batches.append((cur, cur_len))
                cur = []
            cur_len = n if not cur else max(cur_len, n)
            cur.append(i)
        if cur:
            batches.append((cur, cur_len))
    return rng.shuffle(batches)


def plan_run(examples, a):
    steps = []
    for epoch in range(a.epochs):
        mbs = pack_epoch(examples, a.seed, epoch, a.batch_tokens)
        for i in range(0, len(mbs), a.grad_accum):
            steps.append(mbs[i:i + a.grad_accum])
        if a.max_steps > 0 and len(steps) >= a.max_steps:
            break
    if a.max_steps > 0:
        steps = steps[:a.max_steps]
    resp = [sum(len(examples[r]["ids"]) - examples[r]["prompt_len"] for mb in s for r in mb[0]) for s in steps]
    normaliser = a.normaliser if a.normaliser > 0 else max(1.0, sum(resp) / max(1, len(steps)))
    return steps, normaliser


def batch_tensors(examples, mb, normaliser, device):
    rows, T = mb
    B = len(rows)
    ids = torch.zeros(B, T, dtype=torch.long)
    tgt = torch.zeros(B, T, dtype=torch.long)
    w = torch.zeros(B, T, dtype=torch.float32)
    for b, r in enumerate(rows):
        e = examples[r]
        x = torch.tensor(e["ids"], dtype=torch.long)
        n = len(x) - 1
        ids[b, :n] = x[:-1]
        tgt[b, :n] = x[1:]
        start = max(e["prompt_len"] - 1, 0)
        w[b, start:n] = e["weight"] / normaliser
    pos = torch.arange(T, dtype=torch.long).unsqueeze(0).expand(B, T)
    return ids.to(device), pos.to(device), tgt.to(device), w.to(device)


def learning_rate(step, a, total):
    if a.warmup > 0 and step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    span = max(1, total - a.warmup)
    p = min(1.0, max(0.0, (step - a.warmup) / span))
    lo = a.lr * a.min_lr_ratio
    return lo + 0.5 * (a.lr - lo) * (1 + math.cos(math.pi * p))


# ---------------------------------------------------------------- safetensors (F32 only; no package needed)

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit("train_sft: %s: tensor %s is %s; the minimal loader reads F32 only" % (path, name, info["dtype"]))
        s, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + s:8 + n + e]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in tensors.items():
        b = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- MINIMAL QWEN3 MODULE (used only without transformers)

class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        hid = c["hidden_size"]
        self.q_proj = nn.Linear(hid, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(hid, self.kv * self.d, bias=False)
        self.v_proj = nn.Linear(hid, self.kv * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, hid, bias=False)
        self.q_norm = RMSNorm(self.d, c["rms_norm_eps"])
        self.k_norm = RMSNorm(self.d, c["rms_norm_eps"])

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(B, T, self.h, self.d)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(B, T, self.kv, self.d)).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.d).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d) + mask
        y = att.softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.h * self.d))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(c["hidden_size"], c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], c["hidden_size"], bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class MiniQwen3(nn.Module):
    """A minimal Qwen3 causal LM with Hugging Face parameter names (model.layers.N..., lm_head)."""

    def __init__(self, c):
        super().__init__()
        c = dict(c)
        c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
        c.setdefault("rms_norm_eps", 1e-6)
        c.setdefault("rope_theta", 1000000.0)
        self.config = c
        self.model = Inner(c)
        self.tied = bool(c.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, position_ids):
        c = self.config
        d = c["head_dim"]
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32, device=input_ids.device) / d))
        ang = position_ids.to(torch.float32).unsqueeze(-1) * inv
        ang = torch.cat([ang, ang], dim=-1)
        cos, sin = ang.cos().unsqueeze(1), ang.sin().unsqueeze(1)
        T = input_ids.shape[1]
        mask = torch.full((T, T), float("-inf"), device=input_ids.device).triu(1)
        x = self.model.embed_tokens(input_ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        return x @ (self.model.embed_tokens.weight if self.tied else self.lm_head.weight).t()


def load_model(path, device, tiny_config, seed, force_mini=False):
    if tiny_config is not None and HAVE_TRANSFORMERS and not force_mini:
        from transformers import AutoModelForCausalLM, Qwen3Config
        torch.manual_seed(seed)
        cfg = {k: v for k, v in tiny_config.items() if k not in ("model_type", "architectures")}
        model = AutoModelForCausalLM.from_config(Qwen3Config(**cfg)).float()
        return model.to(device), "hf", None
    if tiny_config is not None or force_mini or (not HAVE_TRANSFORMERS and os.path.isdir(path)):
        cfg = tiny_config if tiny_config is not None else json.load(open(os.path.join(path, "config.json")))
        if cfg.get("model_type", "qwen3") != "qwen3":
            missing(["transformers"], "%s is a %s model; without transformers only qwen3 folders load. Install transformers and rerun" % (path, cfg.get("model_type")))
        torch.manual_seed(seed)
        model = MiniQwen3(cfg)
        if tiny_config is None:
            sd = read_safetensors(os.path.join(path, "model.safetensors"))
            missing_keys = [k for k in model.state_dict() if k not in sd]
            if missing_keys:
                raise SystemExit("train_sft: %s/model.safetensors lacks %s; write the model folder again" % (path, missing_keys[0]))
            model.load_state_dict({k: sd[k] for k in model.state_dict()})
        sys.stderr.write("train_sft: using the MINIMAL QWEN3 MODULE (transformers %s)\n" % ("not importable" if not HAVE_TRANSFORMERS else "bypassed by --mini"))
        return model.to(device), "mini", cfg
    if not HAVE_TRANSFORMERS:
        missing(["transformers"], "transformers is not importable by %s and %s is not a local qwen3 folder; pip install transformers and rerun" % (sys.executable, path))
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32)
    return model.to(device), "hf", None


def logits_of(model, kind, ids, pos):
    if kind == "mini":
        return model(ids, pos)
    return model(input_ids=ids, position_ids=pos, use_cache=False).logits


# ---------------------------------------------------------------- CHECKPOINTS (the rules of src/train/checkpoint.ts)
#
# DIR/step-XXXXXXXX/ holds state.pt (model and optimizer state dicts), rng-<rank>.pt (each rank's
# torch RNG state) and trainer_state.json (step, total_steps, run_id, losses so far). It is written
# as step-XXXXXXXX.tmp-save, every file fsynced, the folder fsynced, renamed, and DIR fsynced, so a
# folder with a step-XXXXXXXX name is complete ("done" = the rename happened). Old ones are renamed
# to *.del-* before removal, so a kill mid-removal never leaves a half folder under a step name;
# *.tmp-* and *.del-* left by a kill are removed on start.
#
# World > 1 (torchrun + FSDP): rank 0 writes the full model state dict and FSDP's full optimizer
# state dict (unsharded, so a resume may use another world size), each rank its RNG file, with
# barriers around saves and loads; every rank reads state.pt on load and takes its shard
# (FSDP.shard_full_optim_state_dict). This path assumes DIR is on a file system all ranks share
# (one node) and is UNTESTED: the tests run one CPU process, and Debian's torch 1.13 on Python
# 3.11 cannot even import torch.distributed.fsdp (a dataclass ValueError in _shard).

STEP_DIR = re.compile(r"^step-\d{8}$")


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


def write_durable(path, write):
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def discard(path):
    """Removes a checkpoint folder; renamed first so a kill mid-removal leaves no half folder under a step name."""
    doomed = "%s.del-%d" % (path, os.getpid())
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def rng_state(device):
    s = {"torch": torch.get_rng_state()}
    if str(device).startswith("cuda"):
        s["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return s


def set_rng_state(s, device):
    torch.set_rng_state(s["torch"])
    if "cuda" in s and str(device).startswith("cuda"):
        torch.cuda.set_rng_state(s["cuda"], torch.device(device))


def derive_run_id(a, steps):
    """The run's identity when no --run-id is given: the options that change the result, the data file and the step plan."""
    ignored = {"out", "checkpoint_dir", "checkpoint_every", "run_id", "threads", "device", "tiny_vocab"}
    h = hashlib.sha256(json.dumps({k: v for k, v in vars(a).items() if k not in ignored}, sort_keys=True).encode())
    for path in (a.tokens, a.data):
        if path:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    h.update(json.dumps([[mb[0] for mb in s] for s in steps]).encode())
    return h.hexdigest()


class Checkpoints:
    """Saves and restores the training state in one folder; see CHECKPOINTS above."""

    def __init__(self, o):
        self.root, self.every, self.keep = o["root"], o["every"], o.get("keep", 2)
        self.run_id, self.total = o["run_id"], o["total"]
        self.model, self.opt, self.device = o["model"], o["opt"], o["device"]
        self.world, self.rank = o["world"], o["rank"]
        if self.rank == 0:
            os.makedirs(self.root, exist_ok=True)
            for name in os.listdir(self.root):
                if ".tmp-" in name or ".del-" in name:
                    shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
        self.barrier()

    def barrier(self):
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()

    def names(self):
        return sorted(n for n in os.listdir(self.root) if STEP_DIR.match(n))

    def due(self, done):
        return self.every > 0 and done % self.every == 0 and done < self.total

    def save(self, step, losses):
        name = "step-%08d" % step
        tmp = os.path.join(self.root, name + ".tmp-save")
        model_sd, optim_sd = self.full_state()
        if self.rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
        self.barrier()
        rng = rng_state(self.device)
        write_durable(os.path.join(tmp, "rng-%d.pt" % self.rank), lambda f: torch.save(rng, f))
        final = os.path.join(self.root, name)
        if self.rank == 0:
            write_durable(os.path.join(tmp, "state.pt"), lambda f: torch.save({"model": model_sd, "optimizer": optim_sd}, f))
            meta = {"step": step, "total_steps": self.total, "run_id": self.run_id, "world": self.world, "losses": losses}
            write_durable(os.path.join(tmp, "trainer_state.json"), lambda f: f.write(json.dumps(meta).encode()))
        self.barrier()  # every rank's RNG file is in tmp
        if self.rank == 0:
            fsync_dir(tmp)
            if os.path.exists(final):
                discard(final)
            os.rename(tmp, final)
            fsync_dir(self.root)
            for old in self.names()[:-self.keep]:
                discard(os.path.join(self.root, old))
        self.barrier()
        return final

    def full_state(self):
        if self.world == 1:
            return self.model.state_dict(), self.opt.state_dict()
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, FullStateDictConfig, StateDictType
        with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
            model_sd = self.model.state_dict()
        return model_sd, FSDP.full_optim_state_dict(self.model, self.opt)

    def load(self):
        """Restores the newest checkpoint; returns (step, losses, path), or None when there is none."""
        names = self.names()
        if not names:
            return None
        path = os.path.join(self.root, names[-1])
        with open(os.path.join(path, "trainer_state.json")) as f:
            meta = json.load(f)
        if meta.get("run_id") != self.run_id or meta.get("total_steps") != self.total:
            emit("error", reason="foreign-checkpoint", checkpoint=path,
                 message="%s holds checkpoints of a different run (other data, model or options); use another --checkpoint-dir or delete it" % self.root)
            sys.stderr.write("train_sft: %s holds checkpoints of a different run; use another --checkpoint-dir or delete it\n" % self.root)
            sys.exit(2)
        state = torch.load(os.path.join(path, "state.pt"), map_location="cpu")
        if self.world == 1:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
        else:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, FullStateDictConfig, StateDictType
            with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(rank0_only=False)):
                self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(FSDP.shard_full_optim_state_dict(state["optimizer"], self.model, optim=self.opt))
        rng_path = os.path.join(path, "rng-%d.pt" % self.rank)
        if os.path.exists(rng_path):
            set_rng_state(torch.load(rng_path), self.device)
        self.barrier()
        return meta["step"], meta["losses"], path


# ---------------------------------------------------------------- data loading

def load_examples(a):
    if a.tokens:
        rows = [json.loads(line) for line in open(a.tokens) if line.strip()]
        return [{"ids": r["input_ids"], "prompt_len": int(r["prompt_len"]), "weight": float(r["weight"])} for r in rows]
    if a.data:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            missing(["pyarrow"], "reading %s needs pyarrow; pip install pyarrow, or pass --tokens (vrdata's launcher does)" % a.data)
        if not HAVE_TRANSFORMERS:
            missing(["transformers"], "tokenizing %s needs transformers' tokenizer; pip install transformers, or pass --tokens" % a.data)
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(a.model)
        table = pq.read_table(a.data, columns=["prompt", "response", "weight"]).to_pylist()
        out = []
        for r in table:
            p = tok(r["prompt"], add_special_tokens=False)["input_ids"]
            q = tok(r["response"], add_special_tokens=False)["input_ids"]
            if a.eos and tok.eos_token_id is not None:
                q = q + [tok.eos_token_id]
            ids = (p + q)[: a.max_seq_len + 1]
            out.append({"ids": ids, "prompt_len": min(len(p), len(ids)), "weight": float(r["weight"])})
        return out
    if a.bench:
        g = torch.Generator().manual_seed(a.seed)
        T = a.bench_seq_len + 1
        V = a.tiny_vocab
        return [{"ids": torch.randint(0, V, (T,), generator=g).tolist(), "prompt_len": T // 4, "weight": 1.0} for _ in range(a.bench_rows)]
    raise SystemExit("train_sft: pass --tokens, --data or --bench")


# ---------------------------------------------------------------- training

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="HF model folder/id, or a qwen3 folder with model.safetensors")
    p.add_argument("--tiny-config", help="JSON of a Qwen3 config: start from random weights (benchmarks, GPU checks)")
    p.add_argument("--tokens", help="pre-tokenized JSONL: input_ids, prompt_len, weight")
    p.add_argument("--data", help="Parquet with prompt, response, weight (needs pyarrow + transformers)")
    p.add_argument("--bench", action="store_true", help="random token rows instead of data")
    p.add_argument("--bench-rows", type=int, default=256)
    p.add_argument("--bench-seq-len", type=int, default=256)
    p.add_argument("--out", required=False)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--min-lr-ratio", type=float, default=0.0)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--max-seq-len", type=int, default=4096)
    p.add_argument("--normaliser", type=float, default=0.0, help="C; 0 = mean response tokens per step")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.95)
    p.add_argument("--adam-eps", type=float, default=1e-8)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eos", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--bf16", action="store_true", help="autocast to bfloat16 on CUDA")
    p.add_argument("--mini", action="store_true", help="use the minimal Qwen3 module even where transformers is importable")
    p.add_argument("--checkpoint-dir", help="save checkpoints here and resume from the newest one found")
    p.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every N optimiser steps (0 = never)")
    p.add_argument("--run-id", help="identity of the run, checked before resuming (default: a hash of the options, data and step plan)")
    a = p.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = a.device
    if world > 1:
        import torch.distributed as dist
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        if device.startswith("cuda"):
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = "cuda:%d" % local

    tiny = json.loads(a.tiny_config) if a.tiny_config else None
    if tiny is not None:
        a.tiny_vocab = tiny["vocab_size"]
    model, kind, _ = load_model(a.model, device, tiny, a.seed, a.mini)
    if world > 1:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
        model = FSDP(model)
    examples = load_examples(a)
    steps, C = plan_run(examples, a)
    total = len(steps)
    decay, no_decay = [], []
    for n, prm in model.named_parameters():
        (no_decay if prm.dim() < 2 else decay).append(prm)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=a.adam_eps)
    emit("start", total_steps=total, normaliser=C, rows=len(examples), model=kind, device=str(device), world=world, pid=os.getpid())
    start, losses, ck = 0, [], None
    if a.checkpoint_dir:
        ck = Checkpoints({"root": a.checkpoint_dir, "every": a.checkpoint_every, "run_id": a.run_id or derive_run_id(a, steps),
                          "total": total, "model": model, "opt": opt, "device": device, "world": world, "rank": rank})
        resumed = ck.load()
        if resumed:
            start, losses, path = resumed
            emit("resume", step=start, total=total, checkpoint=path, losses=losses)
    model.train()
    t0 = time.time()
    done_tokens = 0
    # The plan is a pure function of the data and seed and the schedule of the step index, so a
    # resume skips the done steps and goes on as the uninterrupted run would.
    for s in range(start, total):
        mbs = steps[s]
        lr = learning_rate(s, a, total)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        tokens = 0
        for i, mb in enumerate(mbs):
            tokens += sum(len(examples[r]["ids"]) - 1 for r in mb[0])
            if i % world != rank:
                continue
            ids, pos, tgt, w = batch_tensors(examples, mb, C, device)
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if a.bf16 and str(device).startswith("cuda") else _Null()
            with ctx:
                logits = logits_of(model, kind, ids, pos)
            nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="none")
            loss = (nll * w.reshape(-1)).sum()
            # FSDP averages gradients over ranks; the loss is a sum over all ranks' micro-batches
            (loss * world).backward()
            loss_sum += float(loss.detach())
        if world > 1:
            import torch.distributed as dist
            t = torch.tensor([loss_sum], device=device)
            dist.all_reduce(t)
            loss_sum = float(t)
        if a.max_grad_norm > 0:
            norm = float(model.clip_grad_norm_(a.max_grad_norm) if world > 1 else torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm))
        else:
            norm = 0.0
        opt.step()
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()
        done_tokens += tokens
        el = time.time() - t0
        losses.append(loss_sum)
        emit("step", step=s + 1, total=total, loss=loss_sum, lr=lr, grad_norm=norm, tokens=tokens,
             tokens_per_s=done_tokens / max(el, 1e-9), elapsed_s=el)
        if ck and ck.due(s + 1):
            emit("checkpoint", step=s + 1, total=total, path=ck.save(s + 1, losses))
    el = time.time() - t0
    if a.out and rank == 0:
        os.makedirs(a.out, exist_ok=True)
        if kind == "mini":
            write_safetensors(os.path.join(a.out, "model.safetensors"), model.state_dict())
            with open(os.path.join(a.out, "config.json"), "w") as f:
                json.dump(dict(model.config, model_type="qwen3", architectures=["Qwen3ForCausalLM"]), f, indent=1)
        else:
            if world > 1:
                from torch.distributed.fsdp import FullStateDictConfig, StateDictType
                with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
                    sd = model.state_dict()
                model.module.save_pretrained(a.out, state_dict=sd)
            else:
                model.save_pretrained(a.out)
    emit("done", steps=total, tokens=done_tokens, elapsed_s=el, tokens_per_s=done_tokens / max(el, 1e-9), out=a.out)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
