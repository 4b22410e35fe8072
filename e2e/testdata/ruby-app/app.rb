require "socket"

VERSION = "v1"
server = TCPServer.new("0.0.0.0", Integer(ENV.fetch("PORT", "8080")))
trap("TERM") { exit }
loop do
  client = server.accept
  Thread.new(client) do |c|
    begin
      while (line = c.gets) && line != "\r\n"; end
      body = "ruby-app #{VERSION}\n"
      c.write "HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}"
    ensure
      c.close
    end
  end
end
