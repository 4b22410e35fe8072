<?php
// mkphar.php SHARE_PHP OUT: packs Debian's composer (/usr/bin/composer and the
// libraries it loads from /usr/share/php) into one self-contained PHAR, laid out
// as bin/composer + share/php/..., so its __DIR__-relative requires still work.
// Run with php -d phar.readonly=0 (done by mkbase.sh inside the php images).
if ($argc !== 3) {
    fwrite(STDERR, "usage: php -d phar.readonly=0 mkphar.php /usr/share/php OUT.phar\n");
    exit(2);
}
[, $share, $out] = $argv;
@unlink($out);
$phar = new Phar($out, 0, 'composer.phar');
$phar->startBuffering();
$it = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($share, FilesystemIterator::SKIP_DOTS | FilesystemIterator::FOLLOW_SYMLINKS));
foreach ($it as $file) {
    if (!$file->isFile()) {
        continue;
    }
    $local = 'share/php/' . substr($file->getPathname(), strlen(rtrim($share, '/')) + 1);
    $data = file_get_contents($file->getPathname());
    if (substr($local, -4) === '.php') {
        // Debian's autoloaders (trixie) require absolute /usr/share/php/... paths
        $data = str_replace(rtrim($share, '/') . '/', 'phar://composer.phar/share/php/', $data);
    }
    $phar->addFromString($local, $data);
}
$bin = file_get_contents('/usr/bin/composer');
$bin = preg_replace('/^#![^\n]*\n/', '', $bin);      // an included file would print its shebang
$phar->addFromString('bin/composer', $bin);
// The PHAR's own libraries come first on the include path (Debian's lookups go through it).
$phar->setStub("#!/usr/bin/env php\n<?php\nPhar::mapPhar('composer.phar');\n"
    . "set_include_path('phar://composer.phar/share/php' . PATH_SEPARATOR . get_include_path());\n"
    . "require 'phar://composer.phar/bin/composer';\n__HALT_COMPILER();\n");
$phar->stopBuffering();
chmod($out, 0755);
