package tool

// Greeting is what the server says.
const Greeting = "hello"
