document.body.textContent = "hi"
