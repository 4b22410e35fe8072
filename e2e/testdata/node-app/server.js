const http = require("http");

const VERSION = "v1";
const server = http.createServer((req, res) => {
  res.end(`node-app ${VERSION}\n`);
});
server.listen(Number(process.env.PORT || 3000));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
