package live

import "strings"

// Command is what live update knows of an app's command: whether the app
// takes synced files without a restart, and what its image needs for that.
type Command struct {
	// Reloads says why the app takes changed files by itself; "" when it
	// must be restarted to take them.
	Reloads string
	// Files and Env go to the image with the agent (ImageSpec's).
	Files map[string][]byte
	Env   []string
}

// PHPReads is why a PHP server is not restarted.
const PHPReads = "PHP reads the files on every request"

// knownCommands are the commands whose apps take files themselves, by
// words their command line holds (all of a row's).
var knownCommands = []struct {
	words [][]string // any of these sets of words
	cmd   Command
}{
	{
		words: [][]string{{"php -S"}, {"apache2-foreground"}, {"php-fpm"}},
		cmd: Command{
			Reloads: PHPReads,
			// PHP's opcache (the built-in server's and FPM's) looks at a
			// file's time only every 2 s by default: at every request, here.
			Files: map[string][]byte{"php/draft-live.ini": []byte("opcache.revalidate_freq=0\nopcache.validate_timestamps=1\n")},
			Env:   []string{"PHP_INI_SCAN_DIR=:/.draft/php"},
		},
	},
	{
		words: [][]string{{"--reload"}, {"nodemon"}, {"flask", "--debug"}},
		cmd:   Command{Reloads: "its server reloads changed files itself"},
	},
}

// KnownCommand is what live update knows of the command argv (the image's
// entrypoint and command); the zero Command when nothing: restarted.
func KnownCommand(argv []string) Command {
	line := strings.Join(argv, " ")
	for _, k := range knownCommands {
		for _, words := range k.words {
			all := true
			for _, w := range words {
				all = all && strings.Contains(line, w)
			}
			if all {
				return k.cmd
			}
		}
	}
	return Command{}
}
