import { Component } from "@angular/core";

@Component({ selector: "app-root", template: "<h1>shop</h1>" })
export class AppComponent {}
