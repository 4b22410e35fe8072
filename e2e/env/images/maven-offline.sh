#!/bin/bash
# maven-offline.sh RELEASE: run inside the maven base images at build time.
# Maven Central is out of reach, so Debian's /usr/share/maven-repo (plugins from
# Debian packages) stands in for it:
#   1. /etc/maven/settings.xml sends every repository to file:///usr/share/maven-repo;
#   2. plugin prefix metadata (dependency:, compiler:, ...) is generated for it;
#   3. a tiny app is built the way draft's Java pack builds (dependency:go-offline,
#      then mvn -o package dependency:copy-dependencies); a plugin version that Maven
#      asks for but Debian lacks gets a relocation POM to the version Debian has;
#   4. the local repository (/root/.m2/repository) is kept, so that
#      `mvn -o package` works at once for an app without dependencies.
set -euo pipefail
RELEASE=${1:-17}
REPO=/usr/share/maven-repo
PLUGINS=$REPO/org/apache/maven/plugins

cat > /etc/maven/settings.xml <<'EOT'
<?xml version="1.0" encoding="UTF-8"?>
<!-- draft e2e base image: Maven Central is not reachable; Debian's Maven
     repository (/usr/share/maven-repo) serves every repository instead. -->
<settings>
  <mirrors>
    <mirror><id>debian</id><mirrorOf>*</mirrorOf><url>file:///usr/share/maven-repo</url></mirror>
  </mirrors>
</settings>
EOT

# highest version directory of G:A that holds the jar
best_version() { # DIR ARTIFACT
  local j; j=$(ls "$1"/*/"$2"-*.jar 2>/dev/null | sort -V | tail -1) || true
  [ -n "$j" ] && basename "$(dirname "$j")"
}

metadata() {
  local tmp d a p jar rel vs v
  tmp=$(mktemp -d)
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<metadata><plugins>'
    for d in "$PLUGINS"/*/; do
      a=$(basename "$d")
      rel=$(best_version "$d" "$a") || continue
      [ -n "$rel" ] || continue
      jar="$d$rel/$a-$rel.jar"
      rm -rf "$tmp/META-INF"
      (cd "$tmp" && jar xf "$jar" META-INF/maven/plugin.xml) 2>/dev/null || continue
      p=$(grep -m1 -o '<goalPrefix>[^<]*' "$tmp/META-INF/maven/plugin.xml" 2>/dev/null | cut -d'>' -f2) || true
      [ -n "$p" ] || continue
      echo "<plugin><name>$a</name><prefix>$p</prefix><artifactId>$a</artifactId></plugin>"
      vs=$(ls "$d" | grep -v -e '^debian$' -e '^maven-metadata' | sort -V)
      {
        echo '<?xml version="1.0" encoding="UTF-8"?>'
        echo "<metadata><groupId>org.apache.maven.plugins</groupId><artifactId>$a</artifactId><versioning><latest>$rel</latest><release>$rel</release><versions>"
        for v in $vs; do echo "<version>$v</version>"; done
        echo '</versions></versioning></metadata>'
      } > "$d/maven-metadata.xml"
    done
    echo '</plugins></metadata>'
  } > "$PLUGINS/maven-metadata.xml"
  rm -rf "$tmp"
}

# relocate G A V: a POM at version V that points to the version Debian has
relocate() {
  local g=$1 a=$2 v=$3 dir to
  dir="$REPO/${g//.//}/$a"
  [ -d "$dir" ] || { echo "maven-offline: $g:$a is not packaged by Debian" >&2; return 1; }
  [ ! -e "$dir/$v/$a-$v.pom" ] || { echo "maven-offline: $g:$a:$v is there but unusable" >&2; return 1; }
  to=$(best_version "$dir" "$a") || true
  [ -n "$to" ] || { echo "maven-offline: no jar of $g:$a" >&2; return 1; }
  mkdir -p "$dir/$v"
  cat > "$dir/$v/$a-$v.pom" <<EOT
<?xml version="1.0" encoding="UTF-8"?>
<project><modelVersion>4.0.0</modelVersion><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version>
<distributionManagement><relocation><version>$to</version></relocation></distributionManagement></project>
EOT
  echo "maven-offline: $g:$a:$v -> $to" >&2
}

probe=$(mktemp -d)
mkdir -p "$probe/src/main/java/com/example"
cat > "$probe/pom.xml" <<EOT
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>probe</artifactId>
  <version>1.0</version>
  <properties><maven.compiler.release>$RELEASE</maven.compiler.release></properties>
</project>
EOT
printf 'package com.example;\npublic class Hello { public static void main(String[] a) { System.out.println("ok"); } }\n' > "$probe/src/main/java/com/example/Hello.java"

metadata
ok=0
for i in 1 2 3 4 5 6 7 8 9 10; do
  rm -rf /root/.m2/repository "$probe/target"
  if (cd "$probe" && mvn -B -q dependency:go-offline && mvn -B -q -o package dependency:copy-dependencies -DskipTests -DincludeScope=runtime -DoutputDirectory=target/lib) >/tmp/mvn.log 2>&1; then
    ok=1; break
  fi
  # "Plugin G:A:V or one of its dependencies could not be resolved", "G:A:jar:V was not found"
  missing=$(grep -oE 'Plugin [A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:[0-9][A-Za-z0-9_.-]* or one|[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+:(jar|pom):[0-9][A-Za-z0-9_.-]* was not found' /tmp/mvn.log |
    sed -E 's/^Plugin //; s/ or one$//; s/:(jar|pom):/:/; s/ was not found$//' | sort -u)
  [ -n "$missing" ] || break
  for m in $missing; do IFS=: read -r g a v <<<"$m"; relocate "$g" "$a" "$v" || { missing=; break; }; done
  [ -n "$missing" ] || break
  metadata
done
if [ $ok != 1 ]; then
  grep -E 'ERROR' /tmp/mvn.log | head -12 >&2
  echo "maven-offline: the offline Maven build of a tiny app does not work in this image" >&2
  exit 1
fi
java -cp "$probe/target/probe-1.0.jar" com.example.Hello >/dev/null
rm -rf "$probe" /tmp/mvn.log /root/.m2/repository/com/example
echo "maven-offline: mvn -o package works for an app without dependencies" >&2
