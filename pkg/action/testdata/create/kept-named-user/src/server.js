require("express")().listen(7000)
