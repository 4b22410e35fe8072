require "socket"

server = TCPServer.new("0.0.0.0", Integer(ENV.fetch("PORT", "8080")))
loop do
  client = server.accept
  client.gets
  client.write "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
  client.close
end
