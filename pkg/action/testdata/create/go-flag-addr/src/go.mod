module example.com/outyet

go 1.22
