/**
 * Every failure a user can see has its own class and a stable `code` (KAL_ERR_...), so scripts can
 * match on the code rather than on the message. Partial failures are not errors: they are warnings
 * on the result (`Warning.code`, see WARNING_CODES in model/report.ts). Both lists are the tables of
 * docs/errors.md (a test compares them).
 *
 * Messages name options as the API spells them (`target`, `port`); an error about one option says
 * which (`option`), and the CLI prints its flag (`--target`) in its place (`messageFor`).
 */
export const ERROR_CODES = [
  'KAL_ERR_USAGE',
  'KAL_ERR_PORT_IN_USE',
  'KAL_ERR_LISTEN',
  'KAL_ERR_NOT_A_CAPTURE',
  'KAL_ERR_MALFORMED_CAPTURE',
  'KAL_ERR_UNSUPPORTED_LINK_TYPE',
  'KAL_ERR_CAPTURE_UNAVAILABLE',
  'KAL_ERR_INTERFACE',
  'KAL_ERR_TIMEOUT',
  'KAL_ERR_REQUESTS_FAILED',
  'KAL_ERR_FILE',
  'KAL_ERR_COMMAND_NOT_FOUND',
  'KAL_ERR_COMMAND',
  'KAL_ERR_EXPECTATION_FAILED',
  'KAL_ERR_NOT_STARTED',
  'KAL_ERR_SCENARIO_MISSED',
  'KAL_ERR_KEYLOG',
  'KAL_ERR_NOT_A_REPORT',
  'KAL_ERR_UNREACHABLE',
  'KAL_ERR_TLS',
  'KAL_ERR_NO_RESPONSE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A message about one option, worded for any name of it: the API's (`target`) or a CLI flag (`--target`). */
export interface OptionMessage {
  option: string;
  text(name: string): string;
}

export class KeepaliveLabError extends Error {
  readonly code: ErrorCode;
  /** The option this error is about, as the API names it (`target`), when it is about one. */
  readonly option: string | undefined;
  readonly #text: ((name: string) => string) | undefined;

  constructor(code: ErrorCode, message: string | OptionMessage, options?: { cause?: unknown }) {
    super(typeof message === 'string' ? message : message.text(message.option), options);
    this.name = new.target.name;
    this.code = code;
    this.option = typeof message === 'string' ? undefined : message.option;
    this.#text = typeof message === 'string' ? undefined : (name) => message.text(name);
  }

  /** The message with `name` (e.g. the CLI's `--target`) where it names the option. */
  messageFor(name: string): string {
    return this.#text === undefined ? this.message : this.#text(name);
  }
}

/** Bad command-line usage or an invalid option value. CLI exit code 2. */
export class UsageError extends KeepaliveLabError {
  constructor(message: string | OptionMessage) {
    super('KAL_ERR_USAGE', message);
  }
}

/** `option` has a value it cannot take: "`option` `problem`", e.g. "target is not a URL: x". */
export function invalidOption(option: string, problem: string): UsageError {
  return new UsageError({ option, text: (name) => `${name} ${problem}` });
}

/** A port we were asked to listen on is already taken. `hint` says what to do instead. */
export class PortInUseError extends KeepaliveLabError {
  readonly host: string;
  readonly port: number;
  constructor(
    host: string,
    port: number,
    options?: {
      cause?: unknown;
      /** The option that named the port (default `port`). */
      option?: string;
      /** What to do instead, given the option's name (default: leave it out for a free port). */
      hint?: (option: string) => string;
    },
  ) {
    const hint = options?.hint ?? ((name: string) => `leave out ${name} to pick a free one`);
    super(
      'KAL_ERR_PORT_IN_USE',
      {
        option: options?.option ?? 'port',
        text: (name) => `port ${port} on ${host} is already in use (${hint(name)})`,
      },
      options,
    );
    this.host = host;
    this.port = port;
  }
}

/** The bytes are not a pcap or pcapng capture at all. */
export class NotACaptureError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_NOT_A_CAPTURE', message);
  }
}

/** A capture uses a link-layer type we cannot decode. */
export class UnsupportedLinkTypeError extends KeepaliveLabError {
  readonly linkType: number;
  constructor(linkType: number) {
    super('KAL_ERR_UNSUPPORTED_LINK_TYPE', `unsupported link type ${linkType}`);
    this.linkType = linkType;
  }
}

/** A capture is malformed beyond recovery (e.g. an absurd record length in the file header). */
export class MalformedCaptureError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_MALFORMED_CAPTURE', message);
  }
}

/** Packet capture could not be started (tcpdump missing, not permitted, ...). */
export class CaptureUnavailableError extends KeepaliveLabError {
  /** What the user can do about it, in one line. */
  readonly fix: string;
  constructor(message: string, fix: string, options?: { cause?: unknown }) {
    super('KAL_ERR_CAPTURE_UNAVAILABLE', message, options);
    this.fix = fix;
  }
}

/** An experiment (or a watched command) did not finish within its time limit. */
export class TimeoutError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_TIMEOUT', message);
  }
}

/**
 * Requests of an experiment's client failed (refused, reset, a TLS server spoken to in plain HTTP...).
 * The run's report is whole all the same: the CLI prints it, then this, and exits with 1.
 */
export class RequestsFailedError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_REQUESTS_FAILED', message);
  }
}

/** A file could not be read or written. */
export class FileError extends KeepaliveLabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KAL_ERR_FILE', message, options);
  }
}

/**
 * Why a file could not be read, in the words every message about one uses (a capture, a key log, a
 * report): `no such file`, `is a directory, not <notA>` (`it is a directory` without it), `permission
 * denied`; otherwise the system's own message.
 */
export function readFailure(error: unknown, notA?: string): string {
  switch ((error as NodeJS.ErrnoException | null)?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return notA === undefined ? 'it is a directory' : `is a directory, not ${notA}`;
    case 'EACCES':
      return 'permission denied';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The command `watch` was given could not be run: not found (KAL_ERR_COMMAND_NOT_FOUND) or not
 * executable (KAL_ERR_COMMAND). `exitCode` is what a shell exits with then, and so does the CLI:
 * 127 not found, 126 found but not executable (POSIX 2.8.2), 1 for any other reason.
 */
export class CommandError extends KeepaliveLabError {
  readonly exitCode: number;
  constructor(
    code: 'KAL_ERR_COMMAND_NOT_FOUND' | 'KAL_ERR_COMMAND',
    message: string,
    exitCode: number,
    cause?: unknown,
  ) {
    super(code, message, { cause });
    this.exitCode = exitCode;
  }
}

/** A CI assertion (an expectation of `checkExpectations`, `--expect-...` in the CLI) did not hold. CLI exit code 1. */
export class ExpectationFailedError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_EXPECTATION_FAILED', message);
  }
}

/**
 * A finding scenario (`run --scenario`, `demo --all`) ran but its finding did not show: the lab did
 * not reproduce what it was set up to. The run's report is whole all the same. CLI exit code 1.
 */
export class ScenarioMissedError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_SCENARIO_MISSED', message);
  }
}

/**
 * A TLS key log (`keylog`, the CLI's `--keylog`) cannot be read: missing, a directory, not permitted.
 * A file that is read but holds no key log lines is not an error: its `sessions` and `malformedLines` say so.
 */
export class KeyLogError extends KeepaliveLabError {
  readonly path: string;
  constructor(path: string, problem: string, options?: { cause?: unknown; option?: string }) {
    super(
      'KAL_ERR_KEYLOG',
      { option: options?.option ?? 'keylog', text: (name) => `${name} ${path}: ${problem}` },
      options,
    );
    this.path = path;
  }
}

/**
 * A file given to `diff` is not a report of this tool: not JSON (a cut or mixed stdout), or JSON of
 * another kind or another schema version. `path` says which file.
 */
export class NotAReportError extends KeepaliveLabError {
  readonly path: string;
  constructor(path: string, problem: string, options?: { cause?: unknown }) {
    super('KAL_ERR_NOT_A_REPORT', `${path} ${problem}`, options);
    this.path = path;
  }
}

/** `probe`: the target cannot be reached (refused, no route, unknown host, the connect timed out). */
export class UnreachableError extends KeepaliveLabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KAL_ERR_UNREACHABLE', message, options);
  }
}

/** `probe`: the TLS handshake with the target failed (certificate not trusted, no common version, not TLS at all). */
export class TlsHandshakeError extends KeepaliveLabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KAL_ERR_TLS', message, options);
  }
}

/** `probe`: the target accepted the connection but sent no HTTP response within the timeout (or closed without one). */
export class NoResponseError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_NO_RESPONSE', message);
  }
}
