import Fastify from "fastify";

const app = Fastify();
app.get("/", async () => ({ hello: "typescript" }));
app.listen({ host: "0.0.0.0", port: Number(process.env.PORT ?? 3000) });
