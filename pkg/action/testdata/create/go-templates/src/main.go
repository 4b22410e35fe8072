package main

import (
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
)

func main() {
	r := gin.Default()
	r.LoadHTMLGlob("templates/*.tmpl.html")
	r.Static("/static", "static")
	r.GET("/", func(c *gin.Context) { c.HTML(http.StatusOK, "index.tmpl.html", nil) })
	r.Run(":" + os.Getenv("PORT"))
}
