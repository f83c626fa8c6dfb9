'use strict';
// The Express app that seed.js and terminator.js both serve, so that they
// differ only in how they shut down.
//
//   GET /            answers after 5 s, like the article's route
//   GET /fast        answers at once, but asynchronously (next turn of the
//                    event loop)
//   GET /slow?ms=N   answers after N milliseconds; 400 unless N is a whole
//                    number of milliseconds
//
// Every handler answers from a later turn of the event loop, as a real
// handler that awaits a database or another service does. It matters for
// server.close(): Node closes the connections idle at that instant, and
// with a synchronous /fast every busy keep-alive connection is idle
// whenever a signal handler runs, so all of them are closed (losing one
// request each) and seed.js exits 0 in about 200 ms. With an asynchronous
// /fast some are mid-request, and Node keeps serving them after close(),
// so seed.js lasts until its 10 s force timer and exits 1, as in the
// baseline (measured with drain's probe, 3 runs each way).

const express = require('express');

const ROOT_DELAY_MS = 5000;

function answerLater(res, ms, body) {
  setTimeout(() => res.type('text/plain').send(body), ms);
}

function answerSoon(res, body) {
  setImmediate(() => res.type('text/plain').send(body));
}

function createApp() {
  const app = express();
  app.get('/', (req, res) => answerLater(res, ROOT_DELAY_MS, 'Hello from Express!\n'));
  app.get('/fast', (req, res) => answerSoon(res, 'fast\n'));
  app.get('/slow', (req, res) => {
    const ms = String(req.query.ms ?? '');
    if (!/^\d+$/.test(ms)) {
      res.status(400).type('text/plain').send('ms must be a whole number of milliseconds\n');
      return;
    }
    answerLater(res, Number(ms), 'slow\n');
  });
  return app;
}

// The port to listen on: $PORT, else 3000.
const port = Number(process.env.PORT) || 3000;

module.exports = { createApp, port };
