// The shop's front-end: GET / asks the API (http://api:8080, its service
// name in the cluster) and answers with what it said.
const http = require('http');

const api = process.env.API_URL || 'http://api:8080/';
const port = process.env.PORT || 3000;

http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.end('ok\n');
    return;
  }
  // a connection of its own per request (no keep-alive): the API's pods
  // are replaced on every deploy
  http.get(api, { agent: false, timeout: 5000 }, (r) => {
    let body = '';
    r.on('data', (c) => { body += c; });
    r.on('end', () => res.end('web v1 <- ' + body));
  }).on('timeout', function () {
    this.destroy(new Error('no answer in 5 s'));
  }).on('error', (e) => {
    res.statusCode = 502;
    res.end('web v1: the API at ' + api + ' does not answer: ' + e.message + '\n');
  });
}).listen(port, () => console.log('web listening on ' + port));
