'use strict';
// The graceful shutdown most Express tutorials recommend, as the baseline
// measured it ("express-seed"): on SIGTERM or SIGINT, server.close() stops
// the listener and its callback exits 0 once every connection has ended;
// a 10 s timer exits 1 if that never happens.
//
//   PORT=8080 node seed.js
//
// What it gets wrong, as measured: server.close() waits for keep-alive
// connections to end but never asks a busy client to go away, so under
// keep-alive load it lasts until the force timer (exit 1); a keep-alive
// connection whose request ends after the signal then holds it for Node's
// keep-alive timeout (5 s); a connected-but-silent socket holds it until
// the force timer. (Connections already idle at the signal are closed at
// once: Node 19 and later close them in server.close().)
// A second signal calls server.close() again, which fails with
// ERR_SERVER_NOT_RUNNING: the callback ignores its error, as in the
// recipe, and exits 0 at once.

const http = require('http');
const { createApp, port } = require('./app');

const FORCE_AFTER_MS = 10000;

const server = http.createServer(createApp());

function onSignal(signal) {
  console.log(`${signal}: closing the listener, waiting for open connections to end`);
  server.close(() => {
    console.log('all connections ended; exiting 0');
    process.exit(0);
  });
  setTimeout(() => {
    console.error(`still open after ${FORCE_AFTER_MS} ms; exiting 1`);
    process.exit(1);
  }, FORCE_AFTER_MS);
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, onSignal);
}

server.listen(port, () => console.log(`express-seed: listening on port ${port}`));
