/**
 * Every failure a user can see has its own class and a stable `code` (KAL_ERR_...), so scripts can
 * match on the code rather than on the message. Partial failures are not errors: they are warnings
 * on the result (see model/result.ts).
 */
export class KeepaliveLabError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad command-line usage or an invalid option value. CLI exit code 2. */
export class UsageError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_USAGE', message);
  }
}

/** A port we were asked to listen on is already taken. `hint` says what to do instead. */
export class PortInUseError extends KeepaliveLabError {
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, options?: { cause?: unknown; hint?: string }) {
    super(
      'KAL_ERR_PORT_IN_USE',
      `port ${port} on ${host} is already in use (${options?.hint ?? 'leave out --port to pick a free one'})`,
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

/** A file could not be read. */
export class FileError extends KeepaliveLabError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KAL_ERR_FILE', message, options);
  }
}

/** A CI assertion (--expect-...) did not hold. CLI exit code 1. */
export class ExpectationFailedError extends KeepaliveLabError {
  constructor(message: string) {
    super('KAL_ERR_EXPECTATION_FAILED', message);
  }
}
