/**
 * Display names and untrusted text (issue 17). Sans-IO, shared by the server (which enforces the
 * name rules at login), the native client and the web UI.
 *
 * - A name is normalised to NFKC; its comparison key is NFKC plus case folding, so `Alice`,
 *   `ALICE` and `Ａｌｉｃｅ` (full-width) are one name.
 * - Control, format (bidi, zero-width, soft hyphen…), default-ignorable, unassigned, private-use
 *   and separator characters other than a single ASCII space are refused, and so are long runs of
 *   combining marks.
 * - Two names whose confusable skeletons (Unicode TS #39 §4) are equal look alike, and the second
 *   is refused by the server. The confusables table is Unicode's `confusables.txt` (v13.0) as
 *   shipped by the `unhomoglyph` package.
 * - {@link sanitizeForTerminal} makes text from the network safe to print to a terminal: no escape
 *   sequences, no bidi overrides, no carriage returns that rewrite the line.
 * @module
 */
import unhomoglyph from 'unhomoglyph';
import { SignalingError } from './errors.ts';
import { MAX_NAME_CHARS } from './messages.ts';

/** Most combining marks allowed in a row on one base character (stops "Zalgo" names). */
export const MAX_COMBINING_RUN = 3;

/**
 * Characters never allowed in a name: controls (Cc), format characters (Cf: bidi controls,
 * zero-width space/joiners, BOM, soft hyphen…), surrogates, private use, unassigned, line and
 * paragraph separators, and every default-ignorable code point (variation selectors, Hangul
 * fillers, combining grapheme joiner…), all of which are invisible or reorder text.
 */
const FORBIDDEN_IN_NAME =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}]/u;
/** White space other than U+0020 (tabs, NBSP, ideographic space left after NFKC…). */
const OTHER_SPACE = /[^\S ]/u;
const COMBINING_RUN = new RegExp(`\\p{M}{${MAX_COMBINING_RUN + 1},}`, 'u');

/** A name accepted by {@link normalizeName}. */
export interface NormalizedName {
  /** The name to store and show: the input in NFKC, case kept. */
  readonly name: string;
  /** Comparison key: NFKC with full case folding. Two names with one key are the same name. */
  readonly key: string;
  /** TS #39 confusable skeletons ({@link nameSkeletons}): names sharing one look alike. */
  readonly skeletons: readonly string[];
}

/** Result of {@link normalizeName}: the normalised name, or a `SIG_ERR_BAD_NAME` error. */
export type NameResult =
  | { readonly ok: true; readonly value: NormalizedName }
  | { readonly ok: false; readonly error: SignalingError };

/**
 * Case folding for comparison. JavaScript has no `String.prototype.casefold`; upper- then
 * lower-casing gives the full folding of Unicode's CaseFolding.txt for every cased letter that
 * matters here (`ß`→`ss`, final `ς`→`σ`, `ﬀ`→`ff`), and NFKC afterwards keeps the key stable
 * (like Unicode's NFKC_Casefold).
 */
export function caseFold(s: string): string {
  return s.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/** TS #39 §4 `skeleton(X)`: NFD, map each character by confusables.txt, NFD again. */
function tr39Skeleton(s: string): string {
  return unhomoglyph(s.normalize('NFD')).normalize('NFD');
}

/**
 * Confusable skeletons of a name, case-insensitive. Two names look alike when they share one.
 * Case folding and the confusables table do not commute (`I` maps to `l` but `i` to itself), so
 * there are two: skeleton of the folded name (`ALICE` ~ `alice`), and skeleton of the folded
 * skeleton (`BiII` ~ `bill`, Cyrillic `ВОВ` ~ `Bob`). One or two distinct strings.
 */
export function nameSkeletons(name: string): readonly string[] {
  const n = name.normalize('NFKC');
  const folded = tr39Skeleton(caseFold(n));
  const mappedFirst = tr39Skeleton(caseFold(tr39Skeleton(n)));
  return folded === mappedFirst ? [folded] : [folded, mappedFirst];
}

/** Whether two names look alike: they share a confusable skeleton ({@link nameSkeletons}). */
export function namesLookAlike(a: string, b: string): boolean {
  const sa = nameSkeletons(a);
  return nameSkeletons(b).some((s) => sa.includes(s));
}

function bad(message: string): NameResult {
  return { ok: false, error: new SignalingError('SIG_ERR_BAD_NAME', message) };
}

/**
 * Checks and normalises a display name. Refuses (with `SIG_ERR_BAD_NAME`) names that are empty,
 * longer than {@link MAX_NAME_CHARS} characters after NFKC, start or end with a space, hold two
 * spaces in a row, or hold any invisible, control, bidi or zero-width character. Never throws.
 */
export function normalizeName(raw: unknown): NameResult {
  if (typeof raw !== 'string') return bad('the name must be a string');
  if (raw.length > MAX_NAME_CHARS * 4) return bad(`the name is longer than ${MAX_NAME_CHARS}`);
  // Forbidden characters are checked before NFKC too: NFKC keeps most of them, but a check on
  // the raw input is what the person typed.
  const bidiOrControl = FORBIDDEN_IN_NAME.exec(raw);
  if (bidiOrControl)
    return bad(
      `the name holds the invisible or control character ${codePointOf(bidiOrControl[0])}`,
    );
  const name = raw.normalize('NFKC');
  const after = FORBIDDEN_IN_NAME.exec(name);
  if (after)
    return bad(`the name holds the invisible or control character ${codePointOf(after[0])}`);
  if (name.length === 0) return bad('the name is empty');
  if ([...name].length > MAX_NAME_CHARS)
    return bad(`the name is longer than ${MAX_NAME_CHARS} characters`);
  if (OTHER_SPACE.test(raw) || OTHER_SPACE.test(name))
    return bad('the name holds white space other than a plain space');
  if (name.startsWith(' ') || name.endsWith(' '))
    return bad('the name starts or ends with a space');
  if (name.includes('  ')) return bad('the name holds two spaces in a row');
  if (/^\p{M}/u.test(name)) return bad('the name starts with a combining mark');
  if (COMBINING_RUN.test(name.normalize('NFD')))
    return bad(`the name has more than ${MAX_COMBINING_RUN} combining marks on one letter`);
  return { ok: true, value: { name, key: caseFold(name), skeletons: nameSkeletons(name) } };
}

function codePointOf(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Options of {@link sanitizeForTerminal}. */
export interface SanitizeOptions {
  /** Keep line feeds (chat text); otherwise they are escaped too (names, reasons). Default false. */
  readonly multiline?: boolean;
  /** Cut the result to this many characters (UTF-16 code units) and add `…`. Default: no cut. */
  readonly maxChars?: number;
}

/**
 * Characters that must never reach a terminal raw: C0 controls (ESC starts ANSI/OSC sequences,
 * CR rewrites the line, BS erases), DEL, C1 controls (U+009B is a one-byte CSI in some
 * terminals), bidi controls (Trojan Source, CVE-2021-42574), the other format characters
 * (zero-width, BOM) and line/paragraph separators.
 */
const UNSAFE_FOR_TERMINAL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Bidi_Control}]/gu;

/**
 * Makes untrusted text (chat, names, reasons from the server or a peer) safe to print: every
 * unsafe character becomes a visible escape (`\x1b`, `\u202e`), tab becomes a space. Lone
 * surrogates become U+FFFD. Never throws, whatever the input.
 */
export function sanitizeForTerminal(text: unknown, options: SanitizeOptions = {}): string {
  const s = typeof text === 'string' ? text : String(text);
  let out = s.toWellFormed().replace(UNSAFE_FOR_TERMINAL, (ch) => {
    if (ch === '\n' && options.multiline === true) return '\n';
    if (ch === '\t') return ' ';
    const cp = ch.codePointAt(0) ?? 0;
    return cp <= 0xff
      ? `\\x${cp.toString(16).padStart(2, '0')}`
      : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
  if (options.maxChars !== undefined && out.length > options.maxChars)
    out = `${out.slice(0, Math.max(0, options.maxChars - 1)).toWellFormed()}…`;
  return out;
}
