// What a person pastes as lspci output, made into plain lines: a UTF-8 BOM, CRLF or CR line ends, e-mail
// quoting ("> "), Markdown code fences, shell prompt lines ("$ sudo lspci -vvv") and lspci's own warnings on
// stderr ("lspci: Unable to load libkmod resources") are removed; line numbers stay those of the input.
// Every step scans each line once (no regular expression that can backtrack over a long line).

/** One line of input: its text without quoting or trailing blanks, and its 1-based number in the input. */
export interface InputLine {
  readonly text: string;
  readonly number: number;
}

/** Flags a shell prompt line named (`lspci -tvnn` says a tree follows, `-vvv` a dump). */
export interface PromptHint {
  readonly line: number;
  readonly tree: boolean;
}

// Drops e-mail quoting: every leading '>' with at most one space after it.
function unquote(line: string): string {
  let i = 0;
  while (i < line.length && line[i] === '>') {
    i++;
    if (line[i] === ' ') i++;
  }
  return i === 0 ? line : line.slice(i);
}

// A shell prompt running lspci: "$ lspci -vvv", "root@host:~# lspci -tvnn", "[me@box ~]$ sudo lspci -vv".
function promptFlags(line: string): { tree: boolean } | undefined {
  const at = line.indexOf('lspci');
  if (at < 0 || at > 200) return undefined;
  const before = line.slice(0, at).trimEnd();
  const prompt = before.endsWith('$') || before.endsWith('#') || before.endsWith('%') || before.endsWith('>') || before.endsWith('$ sudo') || before.endsWith('# sudo') || before.endsWith('sudo') || before === '';
  if (!prompt) return undefined;
  const after = line.slice(at + 5);
  if (after !== '' && after[0] !== ' ') return undefined;
  // "lspci: ..." is a warning, not a command.
  let tree = false;
  for (const word of after.split(' ')) if (word.startsWith('-') && !word.startsWith('--') && word.includes('t')) tree = true;
  return { tree };
}

/**
 * Splits lspci text into lines and removes what is not lspci output. Returns the kept lines (blank lines kept,
 * as blank) and the prompt lines found. Never throws.
 */
export function lspciLines(text: string): { lines: InputLine[]; prompts: PromptHint[] } {
  let body = text;
  if (body.charCodeAt(0) === 0xfeff) body = body.slice(1);
  const lines: InputLine[] = [];
  const prompts: PromptHint[] = [];
  let number = 0;
  let start = 0;
  while (start <= body.length) {
    let end = start;
    while (end < body.length && body[end] !== '\n' && body[end] !== '\r') end++;
    number++;
    const raw = body.slice(start, end);
    start = end + (body[end] === '\r' && body[end + 1] === '\n' ? 2 : 1);
    const line = unquote(raw).trimEnd();
    const trimmed = line.trimStart();
    if (trimmed.startsWith('```') || trimmed.startsWith('~~~')) {
      lines.push({ text: '', number });
      continue;
    }
    if (trimmed.startsWith('lspci: ') || trimmed.startsWith('pcilib: ')) {
      lines.push({ text: '', number });
      continue;
    }
    const prompt = line === trimmed ? promptFlags(line) : undefined;
    if (prompt) {
      prompts.push({ line: number, tree: prompt.tree });
      lines.push({ text: '', number });
      continue;
    }
    lines.push({ text: line, number });
    if (end >= body.length) break;
  }
  return { lines, prompts };
}

/** Width of the leading blanks of a line, a tab counting to the next multiple of 8. Never throws. */
export function indentOf(line: string): number {
  let width = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ') width++;
    else if (c === '\t') width = (Math.floor(width / 8) + 1) * 8;
    else break;
  }
  return width;
}
