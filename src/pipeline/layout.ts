/**
 * The one module that knows where things live in a run folder:
 *
 *   <run>/pipeline.yaml                      resolved configuration, every parameter explicit
 *   <run>/<table>/part-00003-of-00008.parquet
 *   <run>/<table>/part-00003-of-00008.json   manifest, written last
 *   <run>/_journal/<stage>/part-00003-of-00008.jsonl   model responses (cache; survives re-parsing)
 *   <run>/logs/<stage>.log
 *   <run>/report.html
 */
import { join } from 'node:path';

const pad = (n: number) => String(n).padStart(5, '0');

export function partName(part: number, parts: number): string {
  return `part-${pad(part)}-of-${pad(parts)}`;
}

export function tableDir(runDir: string, table: string): string {
  return join(runDir, table);
}

export function partPath(runDir: string, table: string, part: number, parts: number): string {
  return join(runDir, table, `${partName(part, parts)}.parquet`);
}

export function manifestPath(runDir: string, table: string, part: number, parts: number): string {
  return join(runDir, table, `${partName(part, parts)}.json`);
}

export function journalPath(runDir: string, stageId: string, part: number, parts: number): string {
  return join(runDir, '_journal', stageId, `${partName(part, parts)}.jsonl`);
}

export function logPath(runDir: string, stageId: string): string {
  return join(runDir, 'logs', `${stageId}.log`);
}

export function pipelinePath(runDir: string): string {
  return join(runDir, 'pipeline.yaml');
}

export function reportPath(runDir: string): string {
  return join(runDir, 'report.html');
}

/** Matches part file names; group 1 = part, group 2 = parts. */
export const PART_FILE = /^part-(\d{5})-of-(\d{5})\.parquet$/;
