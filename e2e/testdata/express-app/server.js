// An Express app with packages: express and morgan come from the npm registry
// at build (npm ci in the Dockerfile); its start script is nodemon, a
// devDependency that the production image does not have.
const express = require("express");
const morgan = require("morgan");

const app = express();
app.use(morgan("tiny"));
app.get("/", (req, res) => res.type("text").send("express-app v1"));
app.get("/items/:id", (req, res) => res.json({ id: Number(req.params.id) }));
app.listen(process.env.PORT || 3000, () => console.log("listening"));
