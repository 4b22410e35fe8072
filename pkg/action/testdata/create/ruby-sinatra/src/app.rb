require "sinatra"

get "/" do
  "Hello from Sinatra"
end
