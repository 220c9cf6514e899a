/**
 * Prompt templates, defined once as Jinja files under pipelines/templates and rendered with
 * @huggingface/jinja. A template is named by its base name ('reasoning', 'posterior_a',
 * 'posterior_b') or by a path to a pipeline's own .jinja file.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from '@huggingface/jinja';
import { VrdataError } from '../util/errors.js';
import { sha256 } from '../util/hash.js';

/** The folder of the built-in templates (src/stages -> ../../pipelines/templates, also from dist/stages). */
export const TEMPLATES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'pipelines', 'templates');

/** The built-in templates: R(x) and the two posterior prompts P(x, y'). */
export const BUILTIN_TEMPLATES = ['reasoning', 'posterior_a', 'posterior_b'] as const;

/** Where the reasoning prompt leaves the model: the trace z continues from here. */
export const THOUGHT_OPEN = '<|begin_of_thought|>\n\n';
/** The paper cuts a trace just after the first occurrence of this text (build_data_*.py). */
export const END_MARKER = '<|end_of';
export const END_OF_SOLUTION = '<|end_of_solution|>';

interface Loaded {
  text: string;
  template: Template;
  /** Newlines at the end of the file: Jinja drops the last one, the paper keeps them (keep_trailing_newline=True). */
  tail: string;
}

const cache = new Map<string, Loaded>();

/** Resolves a template name or path to a file path; relative paths are taken from the working folder. */
export function templatePath(name: string): string {
  if ((BUILTIN_TEMPLATES as readonly string[]).includes(name)) return resolve(TEMPLATES_DIR, `${name}.jinja`);
  // Any other template shipped in pipelines/templates (e.g. the toy task's short prompts) by bare name.
  if (/^[\w-]+$/.test(name) && existsSync(resolve(TEMPLATES_DIR, `${name}.jinja`))) return resolve(TEMPLATES_DIR, `${name}.jinja`);
  if (name.endsWith('.jinja')) return isAbsolute(name) ? name : resolve(name);
  throw new VrdataError(
    'templates',
    `unknown template "${name}"; use one of ${BUILTIN_TEMPLATES.join(', ')}, another name from ${TEMPLATES_DIR} or a path to a .jinja file`,
    { exitCode: 2 },
  );
}

function load(name: string): Loaded {
  const hit = cache.get(name);
  if (hit) return hit;
  const path = templatePath(name);
  if (!existsSync(path)) {
    throw new VrdataError('templates', `template file ${path} does not exist; check the template parameter of the pipeline`, { exitCode: 2 });
  }
  const text = readFileSync(path, 'utf8');
  const tail = /\n*$/.exec(text)?.[0] ?? '';
  let template: Template;
  try {
    template = new Template(text.slice(0, text.length - tail.length));
  } catch (err) {
    throw new VrdataError('templates', `${path} is not valid Jinja (${(err as Error).message}); fix the file`, { cause: err });
  }
  const entry = { text, template, tail };
  cache.set(name, entry);
  return entry;
}

/** The template's source text, exactly as stored (for stage fingerprints). */
export function templateText(name: string): string {
  return load(name).text;
}

/** A short content hash of the template, for manifests and logs. */
export function templateHash(name: string): string {
  return sha256(templateText(name)).slice(0, 16);
}

/**
 * Renders a template. Jinja's text is kept byte for byte, trailing newlines included (the
 * reasoning prompt must end with "<|begin_of_thought|>\n\n").
 */
export function renderTemplate(name: string, vars: Record<string, string>): string {
  const { template, tail } = load(name);
  return template.render(vars) + tail;
}

/**
 * z: the trace cut just after the first "<|end_of" (appended when absent), exactly as the
 * paper's build_data_*.py do; `hasMarker` says which case applied.
 */
export function cutTrace(trace: string): { z: string; hasMarker: boolean } {
  const at = trace.indexOf(END_MARKER);
  if (at === -1) return { z: trace + END_MARKER, hasMarker: false };
  return { z: trace.slice(0, at) + END_MARKER, hasMarker: true };
}

/** The reference answer text a whose log-prob is la: it continues z after "<|end_of". */
export function referenceAnswerText(solution: string): string {
  return `_thought|>\n\n<|begin_of_solution|>${solution}<|end_of_solution|>`;
}

/** The original response of a Bespoke-Stratos row, as the paper's build scripts write it. */
export function originalResponse(thought: string, solution: string): string {
  return `${thought}<|end_of_thought|>\n\n<|begin_of_solution|>${solution}<|end_of_solution|>`;
}
