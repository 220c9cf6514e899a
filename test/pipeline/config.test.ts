/**
 * Pipeline YAML validation: every mistake is a usage error (exit 2) that names the file, the place
 * and the fix, raised before any stage runs. Stages come from test/helpers/test-stages.ts plus one
 * with an engine role; the CLI case runs the real `vrdata run`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { parsePipeline, checkDataFlow, loadPipeline, type StageRegistry } from '../../src/pipeline/config.js';
import { defineStage } from '../../src/pipeline/stage.js';
import { VrdataError } from '../../src/util/errors.js';
import { prepareStage } from '../../src/stages/prepare.js';
import { sampleStage } from '../../src/stages/sample.js';
import { sourceStage, doubleStage, mergeStage } from '../helpers/test-stages.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli, hasStackTrace } from '../helpers/cli.js';

const genStage = defineStage<{ k: number }>({
  name: 'gen',
  version: 1,
  describe: 'test stage with an engine role',
  inputs: { nums: ['sample_id', 'value'] },
  outputs: { gens: [{ name: 'sample_id', type: 'string' }] },
  engines: { writer: 'writes things' },
  params: { k: { type: 'integer', default: 1, describe: 'k' } },
  run: async () => undefined,
});
const readsMissingColumn = defineStage<Record<string, never>>({
  name: 'bad_reader',
  version: 1,
  describe: 'reads a column nobody writes',
  inputs: { nums: ['sample_id', 'logprobs'] },
  outputs: { out: [{ name: 'sample_id', type: 'string' }] },
  params: {},
  run: async () => undefined,
});
const registry: StageRegistry = { src: sourceStage, double: doubleStage, merge: mergeStage, gen: genStage, bad_reader: readsMissingColumn, prepare: prepareStage };

const WHERE = '/pipelines/test.yaml';
const base = () => ({
  name: 't',
  parts: 2,
  engines: { e1: { kind: 'onnx', model: 'models/tiny' } },
  stages: [{ stage: 'src', params: { count: 10 } }, { stage: 'double' }, { stage: 'gen', engines: { writer: 'e1' } }],
});
const parse = (doc: unknown, overrides?: string[]) => parsePipeline(doc, { registry, baseDir: '/pipelines', where: WHERE, overrides });

/** Asserts a usage error (exit code 2) whose message matches every pattern. */
function assertUsage(fn: () => unknown, ...patterns: RegExp[]) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof VrdataError, `a VrdataError, got ${String(err)}`);
    assert.equal(err.exitCode, 2, err.message);
    assert.match(err.message, /^pipeline: /);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

test('a valid pipeline resolves every parameter, binds engines and resolves paths against its folder', () => {
  const config = parse({ ...base(), stages: [...base().stages, { stage: 'prepare', id: 'prep', params: { input: ['data/x.jsonl', '/abs/y.jsonl'] } }] }, ['src.count=5', 'double.factor=3']);
  assert.equal(config.parts, 2);
  assert.deepEqual(config.stages[0]!.params, { count: 5, salt: 'a', stamp: true, batch: 7, fail: false });
  assert.deepEqual(config.stages[1]!.params, { factor: 3, fail_part: -1 });
  assert.deepEqual(config.stages[2]!.engines, { writer: 'e1' });
  assert.deepEqual(config.stages[3]!.params.input, ['/pipelines/data/x.jsonl', '/abs/y.jsonl']);
  assert.equal(config.engines.e1!.model, '/pipelines/models/tiny');
  checkDataFlow(config, registry);
});

test('unknown keys are rejected at the top level and in a stage entry', () => {
  assertUsage(() => parse({ ...base(), nmae: 'x' }), /test\.yaml/, /top level: unknown key "nmae"/, /Allowed: name, parts/);
  const doc = base();
  (doc.stages[0] as Record<string, unknown>).param = { count: 1 };
  assertUsage(() => parse(doc), /stages\[0\]: unknown key "param"/, /Allowed: stage, id, params/);
});

test('an unknown stage names the stages that exist', () => {
  const doc = base();
  doc.stages[1] = { stage: 'dobule' };
  assertUsage(() => parse(doc), /stages\[1\]: unknown stage "dobule"/, /Known stages: src, double, merge/);
});

test('bad parameters: wrong type, unknown name, bad --set', () => {
  const doc = base();
  doc.stages[0] = { stage: 'src', params: { count: 'many' } as unknown as { count: number } };
  assertUsage(() => parse(doc), /test\.yaml: stage src: parameter "count" must be an integer, got "many"/);
  doc.stages[0] = { stage: 'src', params: { count: 2.5 } };
  assertUsage(() => parse(doc), /"count" must be an integer, got 2\.5/);
  doc.stages[0] = { stage: 'src', params: { cuont: 3 } as unknown as { count: number } };
  assertUsage(() => parse(doc), /unknown parameter "cuont"/, /Known parameters: count, salt, stamp/);
  assertUsage(() => parse(base(), ['src.count=lots']), /"count" must be an integer, got "lots"/);
  assertUsage(() => parse(base(), ['nosuch.k=1']), /--set names stage ids that are not in the pipeline: nosuch/);
  assertUsage(() => parse(base(), ['src-count-1']), /write it as stageId\.param=value/);
  assertUsage(() => parse({ ...base(), parts: 0 }), /parts must be a positive integer, got 0/);
});

test('engine mistakes: unknown role, role bound to an undefined engine, engine without kind', () => {
  const doc = base();
  doc.stages[2] = { stage: 'gen', engines: { writter: 'e1' } } as unknown as (typeof doc.stages)[number];
  assertUsage(() => parse(doc), /stage gen: it has no engine role "writter"\. Roles: writer/);
  doc.stages[2] = { stage: 'gen', engines: { writer: 'e2' } };
  assertUsage(() => parse(doc), /role "writer" is bound to engine "e2", which is not defined under engines/);
  assertUsage(() => parse({ ...base(), engines: { e1: { model: 'm' } } }), /engine "e1" needs kind: onnx or kind: openai/);
});

test('data flow: a column no upstream stage writes, a table nobody writes, duplicate ids', () => {
  const doc = base();
  doc.stages.push({ stage: 'bad_reader' });
  assertUsage(() => checkDataFlow(parse(doc), registry), /stage bad_reader reads column "logprobs" of table "nums", which stage src does not write/, /its columns: sample_id, n, value, nonce/);
  assertUsage(() => checkDataFlow(parse({ ...base(), stages: [{ stage: 'double' }] }), registry), /stage double reads table "nums", but no earlier stage writes it/, /Add the stage that writes it/);
  assertUsage(() => parse({ ...base(), stages: [{ stage: 'src' }, { stage: 'src' }] }), /id "src" is used twice/);
  assertUsage(() => parse({ ...base(), stages: [{ stage: 'src', tables: { numz: 'x' } }] }), /it has no table "numz" to rename/);
});

test('a file that is missing or not YAML is a usage error naming it', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await assert.rejects(loadPipeline(join(dir, 'nope.yaml'), registry), (err: unknown) => err instanceof VrdataError && err.exitCode === 2 && err.message.includes('nope.yaml') && /Give the path of a pipeline YAML file/.test(err.message));
    await writeFile(join(dir, 'bad.yaml'), 'stages: [ { stage: src\n');
    await assert.rejects(loadPipeline(join(dir, 'bad.yaml'), registry), (err: unknown) => err instanceof VrdataError && err.exitCode === 2 && /bad\.yaml is not valid YAML/.test(err.message));
    await writeFile(join(dir, 'list.yaml'), '- a\n- b\n');
    await assert.rejects(loadPipeline(join(dir, 'list.yaml'), registry), /the file must be a mapping/);
  } finally {
    await cleanup();
  }
});

test('vrdata run: a bad pipeline exits 2 with one clear line and writes nothing; a good one runs', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, YAML.stringify({ name: 'x', stages: [{ stage: 'prepare', params: { input: ['../shared/data/eval/aime25.jsonl'], limt: 3 } }] }));
    const out = join(dir, 'run-bad');
    const r = await runCli(['run', bad, '--out', out, '--quiet'], { timeoutMs: 60_000 });
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^vrdata pipeline: .*bad\.yaml: stage prepare: unknown parameter "limt"\. Known parameters: input, /);
    assert.equal(hasStackTrace(r.stderr), false, r.stderr);
    assert.equal(await access(out).then(() => true, () => false), false, 'nothing written before validation passed');

    const good = join(dir, 'good.yaml');
    await writeFile(good, YAML.stringify({ name: 'x', stages: [{ stage: 'prepare', params: { input: [resolve('../shared/data/eval/aime25.jsonl')] } }] }));
    const ok = await runCli(['run', good, '--out', join(dir, 'run-good'), '--quiet'], { timeoutMs: 60_000 });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /prepare\s+1 run\s+0 done .* samples 30, quarantine 0/);
    const saved = YAML.parse(await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'run-good', 'pipeline.yaml'), 'utf8')));
    assert.equal(saved.stages[0].params.limit, 0, 'the saved pipeline spells out every default');
  } finally {
    await cleanup();
  }
});

test('a .jinja template parameter resolves against the pipeline folder; a built-in template name stays a name', () => {
  const withSample: StageRegistry = { ...registry, sample: sampleStage };
  const stages = [
    { stage: 'prepare', params: { input: ['data/x.jsonl'] } },
    { stage: 'sample', id: 'own', params: { template: 'templates/mine.jinja' }, engines: { posterior: 'e1' } },
    { stage: 'sample', id: 'builtin', params: { template: 'posterior_a' }, engines: { posterior: 'e1' } },
    { stage: 'sample', id: 'absolute', params: { template: '/abs/t.jinja' }, engines: { posterior: 'e1' } },
  ];
  const config = parsePipeline({ ...base(), stages }, { registry: withSample, baseDir: '/pipelines', where: WHERE });
  assert.deepEqual(config.stages.slice(1).map((s) => s.params.template), ['/pipelines/templates/mine.jinja', 'posterior_a', '/abs/t.jinja']);
});
