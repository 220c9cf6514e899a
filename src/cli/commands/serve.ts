/** `vrdata serve`: the embedded engine behind vLLM's HTTP API subset, for shard workers to share one loaded model. */
import { basename, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { openOnnxEngine } from '../../engines/onnx/engine.js';
import { onnxBackend } from '../../serve/onnx-backend.js';
import { startServer } from '../../serve/server.js';
import { usageError } from '../../util/errors.js';

interface ServeArgs {
  model: string;
  host: string;
  port: number;
  threads: number;
  device: 'cpu' | 'cuda';
  'served-model-name'?: string;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Serve a local ONNX model over HTTP with vLLM\'s API (/v1/completions, /tokenize, /v1/models, /health)',
  builder: (y) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder in the Hugging Face ONNX layout' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0 exposes it to the network: there is no authentication)' })
      .option('port', { type: 'number', default: 8000, describe: 'TCP port (0 picks a free one; the URL is printed)' })
      .option('threads', { type: 'number', default: 0, describe: 'onnxruntime intra-op threads (0 = one per core)' })
      .option('device', { choices: ['cpu', 'cuda'] as const, default: 'cpu' as const, describe: 'execution provider' })
      .option('served-model-name', { type: 'string', describe: 'the name clients send as "model" (default: the folder name)' })
      .example('$0 serve --model data/models/pi0 --port 8000', 'then: vrdata run … with engine kind openai, endpoints [http://127.0.0.1:8000]'),
  handler: async (a) => {
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw usageError('serve', `--port must be an integer in 0..65535, got ${a.port}`);
    const engine = await openOnnxEngine({ modelDir: a.model, threads: a.threads, device: a.device });
    const name = a['served-model-name'] ?? basename(resolve(a.model));
    const server = await startServer({ backend: onnxBackend(engine, name), host: a.host, port: a.port });
    process.stdout.write(`serve: ${engine.id} as "${name}" at ${server.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((done) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void server.close().then(() => engine.close()).then(done);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
  },
};
