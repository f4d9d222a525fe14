// What petrel does when its output goes away: `petrel run --help | head -3` closes stdout early,
// and Node then reports an unhandled EPIPE with a stack. A closed stdout (or stderr) ends petrel
// quietly with exit 0, as it ends `yes | head`; a command that is generating registers a handler
// that stops the work cleanly instead (the native worker must not be cut off mid-step).

type ClosedHandler = () => void;

let handler: ClosedHandler | undefined;
let closed = false;
let installed = false;

function isClosedPipe(err: NodeJS.ErrnoException): boolean {
  // ERR_STREAM_DESTROYED: a write after the EPIPE already tore the stream down.
  return err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || (closed && err.code === 'ERR_STREAM_WRITE_AFTER_END');
}

function onStreamError(stream: 'stdout' | 'stderr', err: NodeJS.ErrnoException): void {
  if (isClosedPipe(err)) {
    if (closed) return;
    closed = true;
    if (handler) {
      handler();
      return;
    }
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  }
  // Any other write failure (a full disk behind `> file`): one line where it can still be read.
  if (stream === 'stdout') {
    try {
      process.stderr.write(`petrel: cannot write the output: ${err.message}\n`);
    } catch {
      // stderr is gone too
    }
  }
  process.exit(1);
}

/** Installs the handlers once (main() does it before parsing). */
export function guardStdio(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => onStreamError('stdout', err));
  process.stderr.on('error', (err: NodeJS.ErrnoException) => onStreamError('stderr', err));
}

/**
 * While `fn` is registered, a closed stdout calls it instead of exiting (run uses it to stop
 * generating and finish normally). Returns the function that unregisters it.
 */
export function onOutputClosed(fn: ClosedHandler): () => void {
  handler = fn;
  return () => {
    if (handler === fn) handler = undefined;
  };
}

/** Whether stdout or stderr has been closed by the reader. */
export function outputClosed(): boolean {
  return closed;
}
