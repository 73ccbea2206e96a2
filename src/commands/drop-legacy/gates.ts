/** The gates of drop-legacy, in the order they run. Any failure: exit 1, nothing dropped. */
export const GATE_NAMES = ['dependents', 'reconciled', 'quiet', 'unmigrated', 'snapshot', 'verified', 'confirmed', 'dropped'] as const;
export type GateName = (typeof GATE_NAMES)[number];

export interface GateResult {
  name: GateName;
  /** true passed, false failed, null not run (an earlier gate failed, or a dry run stops before it). */
  ok: boolean | null;
  detail: string;
  /** For a failed gate: the command or step that would fix it. */
  fix?: string;
  warnings?: string[];
}

export function passed(name: GateName, detail: string, warnings: string[] = []): GateResult {
  return { name, ok: true, detail, ...(warnings.length > 0 ? { warnings } : {}) };
}

export function failed(name: GateName, detail: string, fix: string, warnings: string[] = []): GateResult {
  return { name, ok: false, detail, fix, ...(warnings.length > 0 ? { warnings } : {}) };
}

export function notRun(name: GateName, detail = 'not run: an earlier gate failed'): GateResult {
  return { name, ok: null, detail };
}

/** One line per gate for a terminal: what it saw, and for a failure, what would fix it. */
export function renderGate(gate: GateResult): string {
  const mark = gate.ok === true ? 'ok  ' : gate.ok === false ? 'FAIL' : '--  ';
  const lines = [`  [${mark}] ${gate.name}: ${gate.detail}`];
  for (const warning of gate.warnings ?? []) lines.push(`         warning: ${warning}`);
  if (gate.fix) lines.push(`         fix: ${gate.fix}`);
  return lines.join('\n');
}

/** The summary's `problems`: one line per refused gate, with its fix. */
export function gateProblems(gates: readonly GateResult[]): string[] {
  return gates.filter((g) => g.ok === false).map((g) => `gate ${g.name} failed: ${g.detail} — fix: ${g.fix ?? ''}`);
}
