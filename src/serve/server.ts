/**
 * `vrdata serve`: a model behind the subset of vLLM's HTTP API that the openai engine uses,
 * in vLLM's shapes (vllm/entrypoints/openai/completion/protocol.py): POST /v1/completions
 * (n, seed, temperature, top_p, top_k, max_tokens, stop, include_stop_str_in_output, logprobs,
 * echo + max_tokens=0 for scoring, prompt as text, token ids or a list of either), POST /tokenize,
 * GET /v1/models, GET /health. Errors use vLLM's {"error": {message, type, param, code}}.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GenerateOptions } from '../engines/types.js';
import type { DetailedCompletion, ServeBackend } from './backend.js';

export interface ServeOptions {
  backend: ServeBackend;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Requests answered, by "METHOD /path" (for tests and logs). */
  readonly counts: Map<string, number>;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

const MAX_BODY = 256 * 1024 * 1024;

/** Starts listening; resolves once the port is bound. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { backend } = options;
  const counts = new Map<string, number>();
  const created = Math.floor(Date.now() / 1000);

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = `${req.method} ${path}`;
    counts.set(route, (counts.get(route) ?? 0) + 1);
    handle(req, path)
      .then((body) => send(res, 200, body))
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof Error ? err.message : String(err);
        send(res, status, {
          error: { message, type: status === 404 ? 'NotFoundError' : status < 500 ? 'BadRequestError' : 'InternalServerError', param: err instanceof HttpError ? err.param : null, code: status },
        });
      });
  });
  server.keepAliveTimeout = 65_000;

  async function handle(req: http.IncomingMessage, path: string): Promise<unknown> {
    if (req.method === 'GET' && path === '/health') return undefined;
    if (req.method === 'GET' && path === '/v1/models') {
      return {
        object: 'list',
        data: [{ id: backend.modelName, object: 'model', created, owned_by: 'vrdata', root: backend.modelName, parent: null, max_model_len: backend.maxModelLen }],
      };
    }
    if (req.method === 'POST' && (path === '/tokenize' || path === '/v1/completions')) {
      const body = await readJson(req);
      checkModel(body.model);
      if (path === '/tokenize') {
        if (typeof body.prompt !== 'string') throw new HttpError(400, 'prompt must be a string', 'prompt');
        const tokens = await backend.tokenize(body.prompt);
        return { count: tokens.length, max_model_len: backend.maxModelLen, tokens, token_strs: null };
      }
      return completions(body);
    }
    throw new HttpError(404, `no route ${req.method} ${path}`);
  }

  function checkModel(model: unknown): void {
    if (model !== undefined && model !== null && model !== backend.modelName) {
      throw new HttpError(404, `The model \`${String(model)}\` does not exist.`, 'model');
    }
  }

  async function completions(body: Record<string, unknown>): Promise<unknown> {
    if (body.stream) throw new HttpError(400, 'stream=true is not supported by vrdata serve', 'stream');
    const prompts = promptList(body.prompt);
    const n = intField(body, 'n', 1, 1);
    const maxTokens = intField(body, 'max_tokens', 16, 0);
    const logprobs = body.logprobs === undefined || body.logprobs === null ? null : intField(body, 'logprobs', 0, 0);
    const echo = body.echo === true;
    const options: GenerateOptions = {
      n,
      seed: body.seed === undefined || body.seed === null ? Math.floor(Math.random() * 2 ** 31) : intField(body, 'seed', 0, -(2 ** 53)),
      temperature: numField(body, 'temperature', 1),
      topP: numField(body, 'top_p', 1),
      topK: body.top_k === undefined || body.top_k === null ? 0 : intField(body, 'top_k', 0, -1),
      maxTokens,
      stop: stopField(body.stop),
    };
    if (body.include_stop_str_in_output === false && options.stop.length > 0) {
      throw new HttpError(400, 'vrdata serve always keeps the stop string (include_stop_str_in_output=true)', 'include_stop_str_in_output');
    }
    if (echo && maxTokens !== 0) throw new HttpError(400, 'echo is supported only with max_tokens=0 (scoring)', 'echo');
    const choices: unknown[] = [];
    let promptTokens = 0;
    let completionTokens = 0;
    for (const [p, prompt] of prompts.entries()) {
      if (echo) {
        const ids = typeof prompt === 'string' ? await backend.tokenize(prompt) : prompt;
        if (ids.length === 0) throw new HttpError(400, 'the prompt is empty', 'prompt');
        const scored = ids.length > 1 ? await backend.scoreIds(ids) : new Float32Array(0);
        promptTokens += ids.length;
        const tokenLogprobs: (number | null)[] = [null, ...Array.from(scored)];
        for (let i = 0; i < n; i++) {
          choices.push({
            index: p * n + i,
            text: typeof prompt === 'string' ? prompt : backend.decode(ids),
            logprobs: logprobs === null ? null : logprobBlock(ids, tokenLogprobs),
            finish_reason: 'length',
            stop_reason: null,
            prompt_logprobs: null,
          });
        }
        continue;
      }
      const outs = await backend.generate(prompt, options, logprobs !== null);
      promptTokens += typeof prompt === 'string' ? (await backend.tokenize(prompt)).length : prompt.length;
      outs.forEach((c: DetailedCompletion, i) => {
        completionTokens += c.tokenIds.length;
        choices.push({
          index: p * n + i,
          text: c.text,
          logprobs: logprobs === null ? null : logprobBlock(c.tokenIds, c.tokenLogprobs),
          finish_reason: c.finishReason,
          stop_reason: c.finishReason === 'stop' ? (options.stop.find((s) => c.text.endsWith(s)) ?? null) : null,
          prompt_logprobs: null,
        });
      });
    }
    return {
      id: `cmpl-${Math.random().toString(16).slice(2)}`,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: backend.modelName,
      choices,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens + completionTokens, completion_tokens: completionTokens, prompt_tokens_details: null },
    };
  }

  function logprobBlock(ids: number[], values: (number | null)[]): unknown {
    const tokens = backend.tokenStrings(ids);
    const textOffset: number[] = [];
    let offset = 0;
    for (const t of tokens) {
      textOffset.push(offset);
      offset += t.length;
    }
    return {
      text_offset: textOffset,
      token_logprobs: values,
      tokens,
      // logprobs=0: vLLM still lists the chosen token itself at each position.
      top_logprobs: values.map((v, i) => (v === null ? null : { [tokens[i]!]: v })),
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function promptList(prompt: unknown): (string | number[])[] {
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof prompt === 'string' && prompt.length > 0) return [prompt];
  if (isIds(prompt)) return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((p) => (typeof p === 'string' && p.length > 0) || isIds(p))) return prompt as (string | number[])[];
  throw new HttpError(400, 'prompt must be a non-empty string, a list of token ids, or a list of either', 'prompt');
}

function intField(body: Record<string, unknown>, name: string, fallback: number, min: number): number {
  const v = body[name];
  if (v === undefined || v === null) return fallback;
  if (!Number.isInteger(v) || (v as number) < min) throw new HttpError(400, `${name} must be an integer >= ${min}`, name);
  return v as number;
}

function numField(body: Record<string, unknown>, name: string, fallback: number): number {
  const v = body[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new HttpError(400, `${name} must be a number >= 0`, name);
  return v;
}

function stopField(stop: unknown): string[] {
  if (stop === undefined || stop === null) return [];
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) return stop as string[];
  throw new HttpError(400, 'stop must be a string or a list of strings', 'stop');
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'the body is not a JSON object'));
      }
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}
