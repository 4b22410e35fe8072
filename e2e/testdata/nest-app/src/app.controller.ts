import { Controller, Get, Header } from "@nestjs/common";

@Controller()
export class AppController {
  @Get()
  @Header("content-type", "text/plain")
  hello(): string {
    return "nest-app v1";
  }
}
