<?php
$version = "v1";
echo "php-app $version\n";
