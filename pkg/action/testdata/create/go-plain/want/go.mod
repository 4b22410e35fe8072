module example.com/hello

go 1.23.4
