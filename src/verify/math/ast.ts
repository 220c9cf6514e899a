/** The expression tree the math verifier parses answers into (LaTeX or plain text, one grammar). */

export type RelOp = '=' | '<' | '>' | '<=' | '>=' | '!=' | '~';

export type Node =
  | { k: 'num'; s: string; pct?: boolean } // a literal as written ("0.5", "12"); pct = followed by %
  | { k: 'sym'; name: string; text?: boolean } // a variable; text = it came from \text{...}
  | { k: 'const'; name: 'pi' | 'e' | 'inf' }
  | { k: 'add'; args: Node[] }
  | { k: 'mul'; args: Node[] }
  | { k: 'neg'; a: Node }
  | { k: 'div'; a: Node; b: Node }
  | { k: 'pow'; a: Node; b: Node }
  | { k: 'pm'; a: Node | null; b: Node; minusFirst?: boolean } // a ± b, or ±b when a is null
  | { k: 'fn'; name: string; args: Node[] } // sin, sqrt, root, log, abs, fact, floor, binom, ...
  | { k: 'pct'; a: Node } // a%, i.e. a/100 under the 'fraction' percent policy
  | { k: 'rel'; ops: RelOp[]; args: Node[] } // a chain: args.length = ops.length + 1
  | { k: 'tuple'; items: Node[]; paren: boolean } // (a, b, ...); paren = round brackets
  | { k: 'set'; items: Node[]; braces: boolean } // {a, b} or a top-level list a, b
  | { k: 'interval'; lo: Node; hi: Node; lopen: boolean; ropen: boolean }
  | { k: 'union'; args: Node[] }
  | { k: 'in'; x: Node; s: Node } // x \in S
  | { k: 'matrix'; rows: Node[][] }
  | { k: 'str'; s: string }; // text that could not be parsed as math

/** A compact canonical string of a tree, used for structural equality and as a cache key. */
export function show(n: Node): string {
  switch (n.k) {
    case 'num':
      return n.pct ? `${n.s}%` : n.s;
    case 'sym':
      return n.text ? `"${n.name}"` : n.name;
    case 'const':
      return `#${n.name}`;
    case 'add':
      return `(${n.args.map(show).join('+')})`;
    case 'mul':
      return `(${n.args.map(show).join('*')})`;
    case 'neg':
      return `(-${show(n.a)})`;
    case 'div':
      return `(${show(n.a)}/${show(n.b)})`;
    case 'pow':
      return `(${show(n.a)}^${show(n.b)})`;
    case 'pm':
      return `(${n.a ? show(n.a) : ''}±${show(n.b)})`;
    case 'fn':
      return `${n.name}(${n.args.map(show).join(',')})`;
    case 'pct':
      return `(${show(n.a)}%)`;
    case 'rel':
      return n.args.map((a, i) => (i === 0 ? show(a) : `${n.ops[i - 1]}${show(a)}`)).join('');
    case 'tuple':
      return `(${n.items.map(show).join(',')})`;
    case 'set':
      return `{${n.items.map(show).join(',')}}`;
    case 'interval':
      return `${n.lopen ? '(' : '['}${show(n.lo)},${show(n.hi)}${n.ropen ? ')' : ']'}`;
    case 'union':
      return n.args.map(show).join('∪');
    case 'in':
      return `${show(n.x)}∈${show(n.s)}`;
    case 'matrix':
      return `[${n.rows.map((r) => r.map(show).join(',')).join(';')}]`;
    case 'str':
      return `"${n.s}"`;
  }
}
