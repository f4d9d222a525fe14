// Reads a GGUF header over HTTP without downloading the file: one ranged request whose body is read only
// until the header parses (Qwen tokenizers put several MiB of vocabulary in the metadata), then closed.
import { UserError } from '../errors.js';
import { NeedMoreBytes, parseGgufHeader, type GgufHeader } from './ggufHeader.js';
import { httpRequest, redact, type RequestOptions } from './http.js';

const MAX_HEADER = 64 << 20;

export async function fetchGgufHeader(url: string, request: RequestOptions): Promise<GgufHeader> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(request.signal?.reason);
  request.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await httpRequest(url, {
      ...request,
      headers: { ...request.headers, range: `bytes=0-${MAX_HEADER - 1}`, 'accept-encoding': 'identity' },
      signal: controller.signal,
    });
    const chunks: Buffer[] = [];
    let have = 0;
    let tryAt = 256 << 10;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      have += chunk.length;
      if (have < tryAt) continue;
      const result = tryParse(Buffer.concat(chunks, have), url);
      if (result instanceof NeedMoreBytes) {
        tryAt = Math.max(result.needed, have * 2);
        continue;
      }
      return result;
    }
    const result = tryParse(Buffer.concat(chunks, have), url);
    if (result instanceof NeedMoreBytes) throw new UserError(`${redact(url)}: GGUF header is larger than ${MAX_HEADER >> 20} MiB or the file is truncated`, 'ERR_USER_BAD_GGUF');
    return result;
  } finally {
    request.signal?.removeEventListener('abort', onAbort);
    controller.abort(); // stop the transfer: the rest of the file is not needed
  }
}

/** Only what the parser says about the bytes is a bad file; an HTTP or network error naming a "-GGUF" repository is not. */
function tryParse(buf: Buffer, url: string): GgufHeader | NeedMoreBytes {
  try {
    return parseGgufHeader(buf);
  } catch (err) {
    if (err instanceof NeedMoreBytes) return err;
    if (err instanceof Error && !(err instanceof UserError)) throw new UserError(`${redact(url)}: ${err.message}`, 'ERR_USER_BAD_GGUF');
    throw err;
  }
}
