<?php
$version = "v1";
// A length: without one, PHP's built-in server holds each answer for a
// second before it closes the connection, through any port-forward.
$body = "php-app $version\n";
header("Content-Length: " . strlen($body));
echo $body;
