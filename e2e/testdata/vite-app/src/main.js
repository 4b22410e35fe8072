// Bundled by vite build into dist/assets/: the image serves the built files.
import { message } from "./message.js";

document.querySelector("#app").textContent = message;
