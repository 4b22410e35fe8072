// A NestJS app compiled by tsc in prestart:prod (not a "build" script), with
// a prepare script (husky) whose tool is a devDependency.
import "reflect-metadata";
import { NestFactory } from "@nestjs/core";
import { AppModule } from "./app.module";

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  await app.listen(process.env.PORT || 3000);
}
bootstrap();
