'use strict';
// The same Express app shut down with http-terminator ("express-terminator"
// in the baseline): on SIGTERM or SIGINT, terminate() marks responses not
// yet started "Connection: close", destroys sockets with no request in
// progress, waits up to 10 s for the rest, destroys what is left, then
// closes the listener; the process exits 0 once that is done (1 if closing
// the listener fails).
//
//   PORT=8080 node terminator.js
//
// What it gets wrong, as measured: the listener stays open during the
// drain and every connection accepted meanwhile is destroyed at once, so
// busy clients that reconnect lose a request each time, tens of thousands
// under load, instead of being refused.

const http = require('http');
const { createHttpTerminator } = require('http-terminator');
const { createApp, port } = require('./app');

const GRACEFUL_TIMEOUT_MS = 10000;

const server = http.createServer(createApp());
const terminator = createHttpTerminator({ server, gracefulTerminationTimeout: GRACEFUL_TIMEOUT_MS });

function onSignal(signal) {
  console.log(`${signal}: terminating (graceful timeout ${GRACEFUL_TIMEOUT_MS} ms)`);
  // terminate() returns the same promise when called again.
  terminator.terminate().then(
    () => {
      console.log('terminated; exiting 0');
      process.exit(0);
    },
    (err) => {
      console.error(`terminate: ${err.message}; exiting 1`);
      process.exit(1);
    },
  );
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, onSignal);
}

server.listen(port, () => console.log(`express-terminator: listening on port ${port}`));
