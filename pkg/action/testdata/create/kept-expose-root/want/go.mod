module example.com/adsvc

go 1.23
