// The prompt templates render exactly the paper's text (sail-sg/variational-reasoning build_data_*.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { renderTemplate, templateText, cutTrace, referenceAnswerText, originalResponse } from '../../src/stages/templates.js';

test('R(x) is the Bespoke-Stratos ChatML prompt ending in an open thought', () => {
  const q = 'Find {x} such that x^2 = 4. {{ not a tag }} <b>';
  const r = renderTemplate('reasoning', { question: q });
  assert.ok(r.startsWith('<|im_start|>system\nYour role as an assistant involves thoroughly exploring questions'));
  assert.ok(r.endsWith(`<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n<|begin_of_thought|>\n\n`));
  // The paper's prompt has a literal backslash-n (Python '\\n\\n') and its typo "analisying".
  assert.ok(r.includes("{thought with steps separated with '\\n\\n'}"));
  assert.ok(r.includes('such as analisying questions'));
  assert.ok(r.includes('Now, try to solve the following question through the above guidelines:<|im_end|>'));
  assert.equal(r.split('<|im_start|>').length - 1, 3);
});

test('posterior prompts append <hint>y\'</hint> to the question; B adds an instruction', () => {
  const a = renderTemplate('posterior_a', { question: 'Q?', hint: '42' });
  const b = renderTemplate('posterior_b', { question: 'Q?', hint: '42' });
  const r = renderTemplate('reasoning', { question: 'Q?' });
  assert.equal(a, r.replace('user\nQ?<|im_end|>', 'user\nQ?\n<hint>42</hint><|im_end|>'));
  assert.ok(b.includes('user\nQ?\n<hint>42</hint>\n'));
  assert.match(b, /do not mention, quote or refer to the hint/);
  assert.ok(b.endsWith('<|im_start|>assistant\n<|begin_of_thought|>\n\n'));
  assert.notEqual(templateText('posterior_a'), templateText('posterior_b'));
});

test('a pipeline may name its own template file; unknown names are usage errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vrdata-tpl-'));
  const path = join(dir, 'mine.jinja');
  writeFileSync(path, 'Q: {{ question }}\nA:\n');
  assert.equal(renderTemplate(path, { question: 'why' }), 'Q: why\nA:\n');
  assert.throws(() => renderTemplate('nope', { question: '' }), /templates: unknown template "nope"/);
});

test('cutTrace cuts just after the first "<|end_of", or appends it', () => {
  assert.deepEqual(cutTrace('think<|end_of_thought|>\n\n<|begin_of_solution|>x<|end_of_solution|>'), { z: 'think<|end_of', hasMarker: true });
  assert.deepEqual(cutTrace('a<|end_of_solution|> b <|end_of_thought|>'), { z: 'a<|end_of', hasMarker: true });
  assert.deepEqual(cutTrace('never ends'), { z: 'never ends<|end_of', hasMarker: false });
  // z + a reads as a whole response
  assert.equal(cutTrace('t').z + referenceAnswerText('S'), 't<|end_of_thought|>\n\n<|begin_of_solution|>S<|end_of_solution|>');
  assert.equal(originalResponse('t', 'S'), 't<|end_of_thought|>\n\n<|begin_of_solution|>S<|end_of_solution|>');
});
