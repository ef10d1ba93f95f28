/**
 * Answers written straight to a socket, for what never becomes a Fastify request: Node's
 * 'clientError' (error-handlers.ts clientErrorHandler) and CONNECT. Same body and headers as the API's
 * other errors, then the connection is closed, as Node itself would close it.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from './api-error.js';

/**
 * A whole HTTP/1.1 error response written to the socket, which is then closed. When a response is
 * already under way on it, nothing is written (it would land inside that response): closed only.
 */
export function writeErrorAndClose(socket: Duplex, status: number, code: string, message: string): void {
  const response = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify(errorBody(code, message));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: nosniff\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * CONNECT (a proxy tunnel request) never reaches Fastify: Node hands it to 'connect' listeners and,
 * without one, drops the connection unanswered. This gateway is not a proxy: 405, in our format.
 */
export function refuseConnect(socket: Duplex): void {
  writeErrorAndClose(socket, 405, 'METHOD_NOT_ALLOWED', 'CONNECT is not supported: this is not a proxy');
}
